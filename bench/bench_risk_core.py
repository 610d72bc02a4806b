"""Risk pure core: one order vs 25 limits, a proposal at once, utilisation, sizing. No database."""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import numpy as np
import pandas as pd

from desk.interfaces import OrderIntent, PortfolioSnapshot, PositionSnapshot, Side, TargetWeights
from risk_app import checks as K
from risk_app.checks import Limit, PreTradeRiskEngine, RiskContext, limit_utilisation
from risk_app.measures import ReturnsMatrix, risk_report
from risk_app.sizing import SizingConfig, VolTargetSizer

T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)
SECTORS = ("Tech", "Energy", "Health", "Financials", "Staples")


def _universe(n: int):
    symbols = [f"S{i:03d}" for i in range(n)]
    rng = np.random.default_rng(42)
    rets = pd.DataFrame(rng.normal(0.0003, 0.015, (252, n)), columns=symbols)
    sectors = {s: SECTORS[i % len(SECTORS)] for i, s in enumerate(symbols)}
    return symbols, ReturnsMatrix.from_frame(rets), sectors


def _snapshot(symbols, sectors, held: int) -> PortfolioSnapshot:
    positions = {s: PositionSnapshot(s, D(1000), D(50), D(50), sectors[s]) for s in symbols[:held]}
    return PortfolioSnapshot(
        portfolio_id=1, name="Core Equity", cash=D(10_000_000), positions=positions, pnl_today=D(-20_000),
        peak_nav=D(13_000_000), recent_order_times=tuple(T0 - timedelta(seconds=i * 0.3) for i in range(5)),
        recent_orders=tuple(OrderIntent(1, s, Side.BUY, D(100), ts=T0 - timedelta(seconds=20)) for s in symbols[:5]),
        as_of=T0,
    )


def _limits(symbol: str) -> list[Limit]:
    desk = [
        (K.MAX_ORDER_QTY, 50_000), (K.MAX_ORDER_NOTIONAL, 5e6), (K.PRICE_COLLAR_PCT, 5), (K.DUPLICATE_WINDOW_S, 10),
        (K.MAX_POSITION_NOTIONAL, 2e6), (K.MAX_GROSS_EXPOSURE, 2e7), (K.MAX_NET_EXPOSURE, 1.0), (K.MAX_LEVERAGE, 2.0),
        (K.MAX_CONCENTRATION, 0.1), (K.MAX_SECTOR_CONCENTRATION, 0.4), (K.MAX_DAILY_LOSS, 500_000),
        (K.MAX_DRAWDOWN, 0.25), (K.MAX_ORDER_RATE, 50), (K.MAX_VAR_95, 1e6),
    ]
    out = [Limit(i, f"Desk {k}", k, t) for i, (k, t) in enumerate(desk)]
    out.append(Limit(14, "Restricted", K.RESTRICTED_INSTRUMENTS, 0, params={"symbols": ["ZZZ", "YYY"]}))
    port = [(K.MAX_ORDER_NOTIONAL, 2e6), (K.MAX_GROSS_EXPOSURE, 1.6e7), (K.MAX_CONCENTRATION, 0.08),
            (K.MAX_DAILY_LOSS, 300_000), (K.MAX_VAR_95, 8e5), (K.MAX_ORDER_QTY, 40_000), (K.MAX_DRAWDOWN, 0.2)]
    out += [Limit(20 + i, f"Core {k}", k, t, scope=K.SCOPE_PORTFOLIO, scope_key=1) for i, (k, t) in enumerate(port)]
    out += [Limit(30, "Instr qty", K.MAX_ORDER_QTY, 30_000, scope=K.SCOPE_INSTRUMENT, scope_key=symbol),
            Limit(31, "Instr pos", K.MAX_POSITION_NOTIONAL, 1.5e6, scope=K.SCOPE_INSTRUMENT, scope_key=symbol),
            Limit(32, "Agent qty", K.MAX_ORDER_QTY, 20_000, scope=K.SCOPE_AGENT, scope_key=9)]
    return out


def _per_call(fn, n: int, repeats: int = 5) -> float:
    """Median over repeats of the mean seconds per call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times)


def run() -> list[dict]:
    out = []
    symbols, returns, sectors = _universe(500)
    ctx = RiskContext(returns=returns, sectors=sectors, marks={s: 50.0 for s in symbols})
    snapshot = _snapshot(symbols, sectors, held=50)
    limits = _limits("S010")
    assert len(limits) == 25
    engine = PreTradeRiskEngine(limits, context=ctx)
    intent = OrderIntent(1, "S010", Side.BUY, D(500), reference_price=D("50.10"), agent_id=9, ts=T0)
    verdict = engine.check(intent, snapshot)
    n_applied = len(verdict.utilisation)

    ref = _per_call(lambda: float(intent.quantity) * float(intent.reference_price) > 5e6, 20000)
    warm = _per_call(lambda: engine.check(intent, snapshot), 5000)
    out.append({"name": "risk.check_one_order_25_limits_warm", "value": round(warm * 1e6, 2), "unit": "µs",
                "goal": "<= 100", "ref": "bare float notional compare", "ratio": round(warm / ref, 1),
                "note": f"{n_applied} limits applied incl. historical VaR over 252x500 returns; snapshot book cached; "
                        f"{1 / warm:,.0f} checks/s per core; passed={verdict.passed}"})

    snaps = [_snapshot(symbols, sectors, held=50) for _ in range(200)]
    it = iter(snaps * 100)
    cold = _per_call(lambda: engine.check(intent, next(it)), 200)
    out.append({"name": "risk.check_one_order_25_limits_new_snapshot", "value": round(cold * 1e6, 2), "unit": "µs",
                "goal": "<= 100", "note": "each check on a new 50-position snapshot: the book (floats, sectors, "
                                          "base VaR scenarios) is rebuilt every time, as live does per order"})

    rng = np.random.default_rng(7)
    for n_trades, goal in ((20, "<= 1"), (500, "<= 20")):
        syms = symbols[:n_trades] if n_trades > 20 else list(rng.choice(symbols, n_trades, replace=False))
        intents = [OrderIntent(1, s, Side.BUY if i % 3 else Side.SELL, D(int(rng.integers(100, 900))),
                               reference_price=D("50.05"), ts=T0) for i, s in enumerate(syms)]
        engine.check_proposal(intents, snapshot)
        t = _per_call(lambda: engine.check_proposal(intents, snapshot), 50 if n_trades == 20 else 10)
        loop = _per_call(lambda: [engine.check(i, snapshot) for i in intents], 50 if n_trades == 20 else 10)
        out.append({"name": f"risk.check_proposal_{n_trades}_trades", "value": round(t * 1e3, 3), "unit": "ms",
                    "goal": goal, "ref": "one check() per trade (no joint exposure)", "ratio": round(t / loop, 2),
                    "note": "25 limits, vectorised; joint post-trade exposure and sequential VaR over 252 scenarios"})

    u = _per_call(lambda: limit_utilisation(limits, snapshot, ctx), 200)
    out.append({"name": "risk.limit_utilisation_25_limits", "value": round(u * 1e6, 1), "unit": "µs",
                "note": "risk page bars, 50 positions"})
    rr = _per_call(lambda: risk_report(snapshot, returns, sectors=sectors), 200)
    out.append({"name": "risk.risk_report_50_positions", "value": round(rr * 1e6, 1), "unit": "µs",
                "note": "exposure, concentration, hist+param VaR/CVaR 95/99 over 252 days, drawdown"})

    from skfolio.datasets import load_sp500_dataset

    prices = load_sp500_dataset().iloc[-253:]
    target = TargetWeights(weights={s: 1 / 20 for s in prices.columns})
    sizer = VolTargetSizer(SizingConfig(target_vol=0.10, max_weight=0.08))
    sz = _per_call(lambda: sizer.size(target, prices=prices, snapshot=snapshot), 50)
    out.append({"name": "risk.size_20_names_sp500", "value": round(sz * 1e3, 3), "unit": "ms",
                "note": "vol target 10%, cap 8%, covariance from 252 days (pandas)"})
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
