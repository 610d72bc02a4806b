"""Order-management pure core: router decision, algo schedules, paper-exchange fill rate (no database)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from market_app.matching.paper import PaperExchange, PaperVenue
from desk.interfaces import ExecutionOrder, MarketState, OrderIntent, Side, VenueQuote
from market_app.intraday import InstrumentDay, SessionMarket
from orders_app.algos import ALGOS
from orders_app.routing import SmartOrderRouter

OPEN = datetime(2022, 1, 3, 14, 30, tzinfo=timezone.utc)
CLOSE = datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc)


def _per_call_us(fn, n: int, repeat: int = 5) -> float:
    """Best of ``repeat`` runs of ``n`` calls, in µs per call (best-of damps scheduler noise)."""
    fn()  # warm
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def _quotes() -> list[VenueQuote]:
    spec = [("XA", 1.0, 0.3, 0.10, 4000), ("XB", 0.8, 0.5, 0.20, 2500), ("XC", 1.2, 0.0, 0.05, 6000),
            ("XD", 1.0, 0.2, 0.15, 1500), ("XE", 0.6, 0.8, 0.30, 1000)]
    out = []
    for code, hs, fee, k, disp in spec:
        out.append(VenueQuote(code, Decimal(str(round(100 * (1 - hs * 1e-4), 6))), Decimal(str(round(100 * (1 + hs * 1e-4), 6))),
                              Decimal(disp), 0.0, fee, 1.0, k))
    return out


def run() -> list[dict]:
    results = []
    router = SmartOrderRouter(daily_vol=0.02, adv=2_000_000)
    quotes = _quotes()
    qty = Decimal(6000)
    ref_us = _per_call_us(lambda: Decimal(6000) + Decimal(1), 20_000)
    us = _per_call_us(lambda: router.route(Side.BUY, qty, quotes), 5_000)
    results.append({"name": "orders.router_decision_5_venues", "value": round(us, 2), "unit": "µs", "goal": "<= 50",
                    "ref": "Decimal add", "ratio": round(us / ref_us, 1), "note": "warm, water-filling, 6000 sh"})

    intent = OrderIntent(portfolio_id=1, symbol="AAA", side=Side.BUY, quantity=Decimal(50_000))
    market = MarketState(now=OPEN, session_open=OPEN, session_close=CLOSE, mark=Decimal(100), adv=2_000_000)
    for name, params in (("TWAP", {"interval_minutes": 5}), ("VWAP", {"interval_minutes": 5}),
                         ("POV", {"rate": 0.05, "interval_minutes": 5})):
        us = _per_call_us(lambda: ALGOS[name].schedule(intent, market, params), 300)
        results.append({"name": f"orders.algo_schedule_{name.lower()}_78_slices", "value": round(us, 1), "unit": "µs",
                        "note": "full session, 5-minute buckets"})

    # Paper exchange: many market orders larger than the display, worked to the end of the session.
    venues = [PaperVenue(code=c, half_spread_bps=1.0, taker_fee_bps=0.3, min_fee=Decimal("0.35"), impact_k=0.1,
                         displayed_share=0.2) for c in ("XA", "XB", "XC", "XD", "XE")]
    symbols = {f"S{i}": InstrumentDay(100.0 + i, 101.0 + i, 1_000_000.0, 0.02) for i in range(20)}
    mkt = SessionMarket(OPEN, CLOSE, symbols)
    for s in symbols:
        mkt.path(s)  # draw the paths outside the timing
    ex = PaperExchange(venues, market=mkt, clock=lambda: OPEN)
    # Spread over the session (one every 10 s) and about three displayed sizes each, so most
    # orders fill over a few ticks and some queue behind others for the same minute's display.
    orders = [ExecutionOrder(f"O{i}", f"S{i % 20}", Side.BUY if i % 2 else Side.SELL, Decimal(1500), venues[i % 5].code,
                             ts=OPEN + timedelta(seconds=10 * i)) for i in range(2000)]
    t0 = time.perf_counter()
    n_fills = sum(len(ex.execute_trade(o).fills) for o in orders)
    dt = time.perf_counter() - t0
    results.append({"name": "orders.paper_exchange_fills", "value": round(n_fills / dt), "unit": "fills/s",
                    "note": f"{len(orders)} market orders, {n_fills} partial fills, 5 venues, 20 symbols"})
    return results


if __name__ == "__main__":
    for r in run():
        print(r)
