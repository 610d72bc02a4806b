"""Seed tests for risk: sizing on the demo data, and every limit kind at its threshold.

Pure core only (no database): the Django-level orchestrator test lives in
``test_trade_execution_orchestrator.py``.
"""

from __future__ import annotations

import math
import unittest
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import numpy as np
import pandas as pd

from desk.interfaces import OrderIntent, OrderType, PortfolioSnapshot, PositionSnapshot, Side, TargetWeights
from risk_app import checks as K
from risk_app.checks import Limit, PreTradeRiskEngine, RiskContext
from risk_app.measures import ReturnsMatrix
from risk_app.sizing import SizingConfig, VolTargetSizer

T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)
NAV = D("1000000")


def snap(cash=NAV, positions=(), **kw) -> PortfolioSnapshot:
    return PortfolioSnapshot(
        portfolio_id=7, name="Core Equity", cash=D(cash),
        positions={p.symbol: p for p in positions}, **kw,
    )


def pos(symbol, qty, mark=100, sector="Tech") -> PositionSnapshot:
    return PositionSnapshot(symbol, D(qty), D(mark), D(mark), sector)


def buy(qty, symbol="AAPL", price=100, ts=T0, **kw) -> OrderIntent:
    return OrderIntent(7, symbol, Side.BUY, D(qty), reference_price=D(price), sector="Tech", ts=ts, **kw)


class TestRiskManagement(unittest.TestCase):
    def test_position_sizing(self):
        # Arrange: the demo prices, one trading year; a tilted long-only target.
        from skfolio.datasets import load_sp500_dataset

        prices = load_sp500_dataset().iloc[-253:]
        symbols = list(prices.columns)
        raw = np.arange(1, len(symbols) + 1, dtype=float)
        target = TargetWeights(weights=dict(zip(symbols, (raw / raw.sum()).tolist())), strategy="demo")
        rets = prices.pct_change().iloc[1:].to_numpy()

        for target_vol, max_weight in ((0.10, 0.08), (0.15, 0.06), (0.05, None)):
            with self.subTest(target_vol=target_vol, max_weight=max_weight):
                # Act
                sized = VolTargetSizer(SizingConfig(target_vol=target_vol, max_weight=max_weight)).size(
                    target, prices=prices, snapshot=snap()
                )
                w = np.array([sized.weights[s] for s in symbols])
                # Assert: the realised annual vol of the sized portfolio over the window is the target (within 1%)
                realised = (rets @ w).std(ddof=1) * math.sqrt(252)
                self.assertAlmostEqual(realised / target_vol, 1.0, delta=0.01)
                self.assertAlmostEqual(sized.volatility / target_vol, 1.0, delta=0.01)
                # ...and the caps hold: no name above its cap, long only, no leverage
                if max_weight is not None:
                    self.assertLessEqual(w.max(), max_weight + 1e-12)
                self.assertGreaterEqual(w.min(), 0.0)
                self.assertLessEqual(w.sum(), 1.0 + 1e-12)

        # A target the demo data cannot reach without leverage stops at gross 1 and says so.
        sized = VolTargetSizer(SizingConfig(target_vol=0.60, max_weight=0.10)).size(target, prices=prices, snapshot=snap())
        w = np.array(list(sized.weights.values()))
        self.assertLessEqual(w.max(), 0.10 + 1e-12)
        self.assertLessEqual(w.sum(), 1.0 + 1e-9)
        self.assertLess(sized.volatility, 0.60)
        self.assertTrue(any("not reached" in n for n in sized.notes))

    def test_risk_limits(self):
        """Each kind: one unit under passes, exactly at passes, one unit over is denied with its reason."""
        var_returns = pd.DataFrame({"AAPL": np.linspace(-0.05, 0.05, 101)})  # 5% quantile: -0.045
        var_ctx = RiskContext(returns=ReturnsMatrix.from_frame(var_returns))
        recent = lambda n: tuple(T0 - timedelta(milliseconds=100 * (i + 1)) for i in range(n))  # noqa: E731

        # (name, limit, {label: (intent, snapshot, context)}, reason fragment)
        cases = [
            ("qty", Limit(1, "Max qty", K.MAX_ORDER_QTY, 1000),
             lambda q: (buy(q), snap(), None), (999, 1000, 1001), "Order quantity 1,001 AAPL exceeds the 1,000 limit 'Max qty'"),
            ("notional", Limit(2, "Max order notional (Core Equity)", K.MAX_ORDER_NOTIONAL, D("100000")),
             lambda q: (buy(q), snap(), None), (999, 1000, 1001),
             "Order notional USD 100,100 exceeds the USD 100,000 limit 'Max order notional (Core Equity)'"),
            ("collar", Limit(3, "Collar", K.PRICE_COLLAR_PCT, 5),
             lambda px: (OrderIntent(7, "AAPL", Side.BUY, D(10), OrderType.LIMIT, limit_price=D(px), ts=T0),
                         snap(positions=[pos("AAPL", 10)]), None),
             ("104.99", "105", "105.01"), "Order price for AAPL is 5.01% from the last price 100, beyond the 5% collar 'Collar'"),
            ("position", Limit(4, "Max AAPL position", K.MAX_POSITION_NOTIONAL, 100000, scope=K.SCOPE_INSTRUMENT, scope_key="AAPL"),
             lambda q: (buy(q), snap(cash=950000, positions=[pos("AAPL", 500)]), None), (499, 500, 501),
             "Post-trade AAPL position of USD 100,100 exceeds the USD 100,000 limit 'Max AAPL position'"),
            ("gross", Limit(5, "Max gross", K.MAX_GROSS_EXPOSURE, 100000),
             lambda q: (buy(q), snap(), None), (999, 1000, 1001),
             "Post-trade gross exposure USD 100,100 exceeds the USD 100,000 limit 'Max gross'"),
            ("net", Limit(6, "Max net", K.MAX_NET_EXPOSURE, 0.10, scope=K.SCOPE_PORTFOLIO, scope_key=7),
             # short 200 XOM (-20,000): net = -20,000 + 100 q, at the limit when q = 1,200
             lambda q: (buy(q), snap(cash=1020000, positions=[pos("XOM", -200, sector="Energy")], long_short=True), None),
             (1199, 1200, 1201), "Post-trade net exposure 10.01% of NAV exceeds the 10% limit 'Max net'"),
            ("leverage", Limit(7, "Max leverage", K.MAX_LEVERAGE, 1.5),
             lambda q: (buy(q), snap(cash=0, positions=[pos("AAPL", 10000)]), None), (4999, 5000, 5001),
             "Post-trade leverage 1.5x exceeds the 1.5x limit 'Max leverage'"),
            ("concentration", Limit(8, "Max weight", K.MAX_CONCENTRATION, 0.05),
             lambda q: (buy(q), snap(), None), (499, 500, 501),
             "Post-trade AAPL weight 5.01% of NAV exceeds the 5% limit 'Max weight'"),
            ("sector", Limit(9, "Max sector", K.MAX_SECTOR_CONCENTRATION, 0.08),
             lambda q: (buy(q), snap(cash=970000, positions=[pos("MSFT", 300)]), None), (499, 500, 501),
             "Post-trade Tech sector weight 8.01% of NAV exceeds the 8% limit 'Max sector'"),
            ("daily loss", Limit(10, "Max daily loss", K.MAX_DAILY_LOSS, 50000),
             lambda loss: (buy(10), snap(pnl_today=D(-loss)), None), (49999, 50000, 50001),
             "Today's loss USD 50,001 exceeds the USD 50,000 limit 'Max daily loss'; only orders that reduce a position may pass"),
            ("drawdown", Limit(11, "Max drawdown", K.MAX_DRAWDOWN, 0.10),
             lambda cash: (buy(10), snap(cash=cash, peak_nav=NAV), None), (900001, 900000, 899999),
             "Drawdown 10% from peak NAV exceeds the 10% limit 'Max drawdown'; only orders that reduce a position may pass"),
            ("rate", Limit(12, "Max rate", K.MAX_ORDER_RATE, 5, params={"window_s": 1}),
             lambda n: (buy(10), snap(recent_order_times=recent(n)), None), (3, 4, 5),
             "Order rate 6 per second (over 1 s) exceeds the 5 per second limit 'Max rate'"),
            ("var", Limit(13, "Max VaR", K.MAX_VAR_95, 4500),
             lambda q: (buy(q), snap(), var_ctx), (999, 1000, 1001),
             "Post-trade 1-day 95% VaR USD 4,504.50 exceeds the USD 4,500 limit 'Max VaR'"),
            ("duplicate", Limit(14, "Duplicate window", K.DUPLICATE_WINDOW_S, 10),
             lambda age: (buy(100), snap(recent_orders=(buy(100, ts=T0 - timedelta(seconds=age)),)), None),
             (11, 10, 9), "The same order (BUY 100 AAPL) was sent 9 s ago, within the 10 s duplicate window 'Duplicate window'"),
        ]
        for name, limit, make, (under, at, over), text in cases:
            engine = PreTradeRiskEngine([limit])
            for label, arg, should_pass in (("under", under, True), ("at", at, True), ("over", over, False)):
                with self.subTest(kind=name, case=label):
                    intent, snapshot, ctx = make(arg)
                    verdict = engine.check(intent, snapshot, context=ctx)
                    self.assertEqual(verdict.passed, should_pass, verdict.reasons)
                    if should_pass:
                        self.assertEqual(verdict.breaches, ())
                    else:
                        self.assertEqual(verdict.reasons, [text])
                        self.assertEqual(verdict.breaches[0].limit_id, limit.id)
                        self.assertEqual(verdict.breaches[0].kind, limit.kind)

        # Restricted list: listed names are denied, others pass.
        engine = PreTradeRiskEngine([Limit(15, "Restricted (Compliance)", K.RESTRICTED_INSTRUMENTS, 0, params={"symbols": ["AAPL"]})])
        self.assertEqual(engine.check(buy(1), snap()).reasons, ["AAPL is on the restricted list 'Restricted (Compliance)'"])
        self.assertTrue(engine.check(buy(1, symbol="MSFT"), snap()).passed)
