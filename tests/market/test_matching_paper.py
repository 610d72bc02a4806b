"""The paper exchange follows DESIGN.md's market conventions (hand-worked fills on a scripted market)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from market_app.matching.backtest import BacktestEnvironment
from desk.venue import BrokerAdapter
from market_app.matching.paper import PaperExchange, PaperVenue
from desk.interfaces import ExecutionOrder, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from market_app.intraday import InstrumentDay, InstrumentState, SessionMarket

OPEN = datetime(2022, 1, 3, 14, 30, tzinfo=timezone.utc)
CLOSE = datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc)
T0 = OPEN + timedelta(minutes=60)


class ScriptedMarket:
    """Mark 100 unless scripted per minute; 1,000 shares of market volume a minute; σ 2%, ADV 1e6."""

    def __init__(self, marks=None, close=CLOSE):
        self.marks = marks or {}
        self.close = close

    def state(self, symbol, ts):
        minute = int((ts - OPEN).total_seconds() // 60)
        return InstrumentState(self.marks.get(minute, 100.0), 1000.0, 1_000_000.0, 0.02)

    def is_open(self, ts):
        return OPEN <= ts < self.close

    def next_tick(self, ts):
        if ts >= self.close:
            return None
        k = int((ts - OPEN).total_seconds() // 60) + 1
        return min(OPEN + timedelta(minutes=k), self.close)


VENUE = PaperVenue(
    code="XA",
    half_spread_bps=1.0,
    maker_fee_bps=0.1,
    taker_fee_bps=0.5,
    min_fee=Decimal("1.00"),
    latency_ms=5.0,
    impact_k=0.1,
    displayed_share=0.5,  # 500 of the minute's 1,000 shares
)


def _exchange(market=None, now=T0, venues=(VENUE,)):
    clock = {"t": now}
    ex = PaperExchange(venues, market=market or ScriptedMarket(), clock=lambda: clock["t"])
    return ex, clock


def _order(cid, qty, side=Side.BUY, **kw):
    kw.setdefault("ts", T0)
    return ExecutionOrder(client_order_id=cid, symbol="AAA", side=side, quantity=Decimal(qty), venue="XA", **kw)


def test_execute_trade_when_market_buy_within_display_then_one_taker_fill_at_touch_plus_impact():
    ex, _ = _exchange()
    result = ex.execute_trade(_order("C1", 300))
    assert result.status is OrderStatus.FILLED
    (fill,) = result.fills
    # Touch 100.01; impact 0.1 · 0.02 · sqrt(300 / 1e6) = 3.4641e-5 -> 100.01 · 1.000034641 = 100.013464
    assert fill.last_px == Decimal("100.013464")
    assert fill.last_qty == Decimal(300)
    # 300 · 100.013464 · 0.5 bps = 1.500202 -> 1.50
    assert fill.commission == Decimal("1.50")
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert fill.ts_event == T0 + timedelta(milliseconds=5)  # after the venue's latency
    assert fill.trade_id == "C1-1"


def test_execute_trade_when_larger_than_display_then_rest_fills_on_later_ticks():
    ex, _ = _exchange()
    result = ex.execute_trade(_order("C2", 1200))
    assert result.status is OrderStatus.FILLED
    assert [int(f.last_qty) for f in result.fills] == [500, 500, 200]
    assert [f.ts_event for f in result.fills] == [
        T0 + timedelta(milliseconds=5),
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
    ]
    assert [f.trade_id for f in result.fills] == ["C2-1", "C2-2", "C2-3"]


def test_execute_trade_when_market_sell_then_fills_at_bid_minus_impact():
    ex, _ = _exchange()
    (fill,) = ex.execute_trade(_order("S1", 300, side=Side.SELL)).fills
    # 99.99 · (1 − 3.4641e-5) = 99.986536
    assert fill.last_px == Decimal("99.986536")


def test_fill_when_fee_is_below_the_minimum_then_minimum_is_charged():
    ex, _ = _exchange()
    (fill,) = ex.execute_trade(_order("C3", 10)).fills
    assert fill.commission == Decimal("1.00")  # 10 · 100.01 · 0.5 bps = 0.05 < 1.00


def test_limit_buy_when_path_crosses_later_then_maker_fill_at_limit_with_half_even_fee():
    venue = PaperVenue(code="XA", half_spread_bps=1.0, maker_fee_bps=0.1, taker_fee_bps=0.5, latency_ms=5.0)
    ex, _ = _exchange(market=ScriptedMarket(marks={62: 99.9}), venues=(venue,))
    order = _order("L1", 25, order_type=OrderType.LIMIT, limit_price=Decimal("99.95"))
    result = ex.execute_trade(order)
    (fill,) = result.fills
    assert fill.liquidity_side is LiquiditySide.MAKER
    assert fill.last_px == Decimal("99.95")
    assert fill.ts_event == OPEN + timedelta(minutes=62)  # not before the path reached 99.95
    # 25 · 99.95 · 0.1 bps = 0.0249875 -> 0.02
    assert fill.commission == Decimal("0.02")


def test_fee_when_exactly_half_a_cent_then_rounds_half_even():
    venue = PaperVenue(code="XA", half_spread_bps=1.0, maker_fee_bps=0.1, latency_ms=5.0)
    ex, _ = _exchange(market=ScriptedMarket(marks={61: 99.0}), venues=(venue,))
    # 25 · 100 · 0.1 bps = 0.025 exactly: half-even gives 0.02, not 0.03
    (fill,) = ex.execute_trade(_order("L2", 25, order_type=OrderType.LIMIT, limit_price=Decimal("100"))).fills
    assert fill.commission == Decimal("0.02")


def test_limit_buy_when_marketable_then_taker_fill_never_above_the_limit():
    ex, _ = _exchange()
    (fill,) = ex.execute_trade(_order("L3", 300, order_type=OrderType.LIMIT, limit_price=Decimal("100.012"))).fills
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert fill.last_px == Decimal("100.012")  # touch + impact would be 100.013464


def test_limit_when_never_crossed_then_expires_at_close_unfilled():
    ex, _ = _exchange()
    result = ex.execute_trade(_order("L4", 100, order_type=OrderType.LIMIT, limit_price=Decimal("99")))
    assert result.status is OrderStatus.EXPIRED
    assert result.fills == ()


def test_ioc_when_larger_than_display_then_rest_cancelled():
    ex, _ = _exchange()
    result = ex.execute_trade(_order("I1", 1200, time_in_force=TimeInForce.IOC))
    assert result.status is OrderStatus.CANCELED
    assert result.filled_qty == Decimal(500)


def test_submit_when_latency_not_elapsed_then_accepted_and_fills_on_advance():
    ex, clock = _exchange()
    seen = []
    ack = ex.submit(_order("A1", 800), seen.append)
    assert ack.status is OrderStatus.ACCEPTED and ack.fills == ()
    clock["t"] = T0 + timedelta(seconds=1)
    ex.advance()
    assert [int(f.last_qty) for f in seen] == [500]
    assert ex.status("A1").status is OrderStatus.PARTIALLY_FILLED
    clock["t"] = T0 + timedelta(minutes=1)
    ex.advance()
    assert [int(f.last_qty) for f in seen] == [500, 300]
    assert ex.status("A1").status is OrderStatus.FILLED


def test_submit_when_delivered_twice_then_no_second_order_or_fill():
    ex, clock = _exchange(now=T0 + timedelta(seconds=1))
    seen = []
    first = ex.submit(_order("D1", 100), seen.append)
    again = ex.submit(_order("D1", 100), seen.append)
    assert first == again
    assert len(seen) == 1
    assert len(ex.fills_since(T0)) == 1


def test_two_orders_when_same_venue_and_minute_then_they_share_the_displayed_size():
    ex, _ = _exchange()
    first = ex.execute_trade(_order("P1", 400))
    second = ex.execute_trade(_order("P2", 400))
    assert [int(f.last_qty) for f in first.fills] == [400]
    assert [int(f.last_qty) for f in second.fills] == [100, 300]  # 500 − 400 left this minute


def test_submit_when_venue_down_or_unknown_then_rejected_with_reason():
    ex, _ = _exchange()
    ex.set_venue_up("XA", False)
    down = ex.execute_trade(_order("R1", 100))
    unknown = ex.execute_trade(ExecutionOrder("R2", "AAA", Side.BUY, Decimal(100), venue="ZZ", ts=T0))
    assert down.status is OrderStatus.REJECTED and "down" in down.reason
    assert unknown.status is OrderStatus.REJECTED and "unknown venue" in unknown.reason


def test_submit_when_after_close_then_rejected():
    ex, _ = _exchange()
    result = ex.execute_trade(_order("R3", 100, ts=CLOSE + timedelta(minutes=1)))
    assert result.status is OrderStatus.REJECTED
    assert "closed" in result.reason


def test_cancel_when_working_then_no_more_fills():
    ex, clock = _exchange(now=T0 + timedelta(seconds=1))
    ex.submit(_order("X1", 1200), lambda f: None)
    cancelled = ex.cancel("X1")
    clock["t"] = T0 + timedelta(minutes=5)
    assert ex.advance() == []
    assert cancelled.status is OrderStatus.CANCELED
    assert cancelled.filled_qty == Decimal(500)


def test_amend_when_quantity_reduced_to_filled_then_order_is_filled():
    ex, _ = _exchange(now=T0 + timedelta(seconds=1))
    ex.submit(_order("M1", 1200), lambda f: None)
    assert ex.amend("M1", quantity=Decimal(300)).status is OrderStatus.PARTIALLY_FILLED  # below filled: refused
    assert ex.amend("M1", quantity=Decimal(500)).status is OrderStatus.FILLED


def test_quotes_when_read_then_mark_plus_minus_half_spread_and_displayed_share():
    ex, _ = _exchange()
    (q,) = ex.quotes("AAA")
    assert (q.bid, q.ask, q.displayed_qty) == (Decimal("99.990000"), Decimal("100.010000"), Decimal(500))
    assert q.impact_k == 0.1 and q.up


def test_replay_when_same_orders_on_same_session_then_same_trade_ids_and_prices():
    def run():
        market = SessionMarket(OPEN, CLOSE, {"AAA": InstrumentDay(100.0, 101.0, 390_000.0, 0.02)})
        ex, _ = _exchange(market=market)
        return ex.execute_trade(_order("R1", 5000)).fills

    a, b = run(), run()
    assert a == b
    assert len(a) > 1
    assert sum(f.last_qty for f in a) == Decimal(5000)


def test_paper_exchange_is_the_reference_broker_adapter():
    assert issubclass(PaperExchange, BrokerAdapter)


def test_backtest_when_market_on_close_then_fills_at_close_with_slippage_and_commission():
    env = BacktestEnvironment(lambda s, ts: (Decimal("50"), ts), commission_bps=1.0, slippage_bps=5.0, min_commission=1)
    result = env.execute_trade(_order("B1", 100))
    (fill,) = result.fills
    assert result.status is OrderStatus.FILLED
    assert fill.last_px == Decimal("50.025000")  # 50 · (1 + 5 bps)
    assert fill.commission == Decimal("1.00")  # 100 · 50.025 · 1 bps = 0.50 < the 1.00 minimum
    sell = env.execute_trade(_order("B2", 1000, side=Side.SELL)).fills[0]
    assert sell.last_px == Decimal("49.975000")
    assert sell.commission == Decimal("5.00")  # 1000 · 49.975 · 1 bps = 4.9975 -> 5.00


def test_backtest_when_limit_not_reached_then_expired_unfilled():
    env = BacktestEnvironment(lambda s, ts: (50.0, ts))
    result = env.execute_trade(_order("B3", 100, order_type=OrderType.LIMIT, limit_price=Decimal("49")))
    assert result.status is OrderStatus.EXPIRED and result.fills == ()


def test_backtest_from_closes_when_next_close_then_fills_at_the_following_bar():
    import pandas as pd

    closes = pd.DataFrame({"AAA": [10.0, 11.0, 12.0]}, index=pd.to_datetime(["2022-01-03", "2022-01-04", "2022-01-05"]))
    same = BacktestEnvironment.from_closes(closes)
    nxt = BacktestEnvironment.from_closes(closes, fill="next_close")
    order = _order("B4", 10, ts=datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc))
    assert same.execute_trade(order).fills[0].last_px == Decimal("10.000000")
    assert nxt.execute_trade(order).fills[0].last_px == Decimal("11.000000")
    assert "look-ahead" in same.fill_timing


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_advance_when_one_resting_limit_order_skips_the_quiet_ticks_then_every_fill_and_its_end_are_as_tick_by_tick(
        side, monkeypatch):
    """A resting limit order alone in the exchange jumps over the ticks whose mark has not reached its limit
    (``PaperExchange._skip_quiet``): the fills, their times, what is left and how it ends are those of working it
    minute by minute, for limits the path reaches early, late, often, or never, advanced in steps or at once."""
    market = SessionMarket(OPEN, CLOSE, {"AAA": InstrumentDay(100.0, 101.0, 390_000.0, 0.02)})
    path = market.path("AAA")
    lows, highs = sorted(path), sorted(path, reverse=True)
    limits = [lows[0] - 1, lows[3], lows[50], lows[200], 101.0, highs[3], highs[0] + 1]

    def run(limit, steps, skip):
        if not skip:
            monkeypatch.setattr(PaperExchange, "_skip_quiet", lambda self, w, until: False)
        clock = {"t": OPEN + timedelta(minutes=5, seconds=7)}
        ex = PaperExchange([VENUE], market=market, clock=lambda: clock["t"])
        order = ExecutionOrder(client_order_id="q", symbol="AAA", side=side, quantity=Decimal(3000), venue="XA",
                               order_type=OrderType.LIMIT, limit_price=Decimal(str(round(limit, 2))), ts=clock["t"])
        ex.submit(order, lambda f: None)
        states = []
        for minutes in steps:
            clock["t"] = min(clock["t"] + timedelta(minutes=minutes), CLOSE + timedelta(minutes=1))
            ex.advance()
            states.append(ex.export_order("q"))
        monkeypatch.undo()
        return states

    for limit in limits:
        for steps in ([400], [7] * 60, [1, 2, 90, 30, 300]):
            assert run(limit, steps, skip=True) == run(limit, steps, skip=False), (limit, steps)
