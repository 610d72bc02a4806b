"""Seed tests for portfolio construction, on the real skfolio S&P 500 demo data.

Pure core only: the proposal flow through Celery is covered by the orchestrator test.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from desk import money
from desk.interfaces import PortfolioSnapshot, PositionSnapshot, TargetWeights
from portfolio_app.optimisation import PortfolioOptimiser
from portfolio_app.rebalancing import should_rebalance
from portfolio_app.trades import LotTradeBuilder, cash_after

SECTORS = {
    "AAPL": "Tech", "AMD": "Tech", "MSFT": "Tech",
    "BAC": "Financials", "JPM": "Financials",
    "BBY": "Consumer", "HD": "Consumer", "KO": "Staples", "PEP": "Staples", "PG": "Staples", "WMT": "Staples",
    "CVX": "Energy", "RRC": "Energy", "XOM": "Energy",
    "GE": "Industrials",
    "JNJ": "Health", "LLY": "Health", "MRK": "Health", "PFE": "Health", "UNH": "Health",
}


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset()


class TestPortfolioOptimization:
    def test_allocation_optimization(self, prices):
        window = prices.loc[:"2022-12-28"].iloc[-757:]

        # A hand-checked case: two stocks, sample covariance, minimum volatility.
        # w_KO = (σ²_PEP - σ_KO,PEP) / (σ²_KO + σ²_PEP - 2σ_KO,PEP), the two-asset closed form.
        pair = window[["KO", "PEP"]]
        cov = pair.pct_change().dropna().cov().to_numpy() * 252
        w_ko = (cov[1, 1] - cov[0, 1]) / (cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
        result = PortfolioOptimiser("min_volatility", {"risk_model": "sample"}).optimise(
            prices=pair, views={}, current_weights={}, constraints={}
        )
        assert result.weights["KO"] == pytest.approx(w_ko, abs=1e-6)
        assert result.weights["PEP"] == pytest.approx(1 - w_ko, abs=1e-6)
        assert result.volatility == pytest.approx(np.sqrt([w_ko, 1 - w_ko] @ cov @ [w_ko, 1 - w_ko]), abs=1e-8)

        # All twenty: max Sharpe under per-asset bounds and sector caps.
        constraints = {
            "weight_bounds": [0.0, 0.12],
            "asset_bounds": {"LLY": [0.0, 0.08]},
            "sector_mapper": SECTORS,
            "sector_upper": {"Health": 0.20, "Energy": 0.15, "Tech": 0.20},
        }
        target = PortfolioOptimiser("max_sharpe").optimise(
            prices=window, views={}, current_weights={}, constraints=constraints
        )
        w = target.weights
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-8)
        assert all(-1e-9 <= v <= 0.12 + 1e-6 for v in w.values())
        assert w["LLY"] <= 0.08 + 1e-6
        for sector, cap in constraints["sector_upper"].items():
            assert sum(v for s, v in w.items() if SECTORS[s] == sector) <= cap + 1e-6
        # The caps bind: unconstrained, max Sharpe puts over 40% in LLY and RRC alone.
        assert sum(v for s, v in w.items() if SECTORS[s] == "Health") == pytest.approx(0.20, abs=1e-5)
        assert target.sharpe is not None and target.sharpe > 0

    def test_rebalancing(self, prices):
        # Calendar: across 2022 the monthly policy fires on exactly these twelve sessions.
        sessions = prices.loc["2022-01-01":"2022-12-28"].index.date
        fired = [
            d for d in sessions
            if should_rebalance({"kind": "calendar", "frequency": "monthly"}, market_date=d,
                                current_weights={}, target_weights=None, last_rebalance_date=None)[0]
        ]
        assert [d.isoformat() for d in fired] == [
            "2022-01-31", "2022-02-28", "2022-03-31", "2022-04-29", "2022-05-31", "2022-06-30",
            "2022-07-29", "2022-08-31", "2022-09-30", "2022-10-31", "2022-11-30",
        ]  # 2022-12-30 is after the data ends

        # Drift: an equal-weight book of XOM and MSFT bought at the 2021 close drifts
        # through 2022 (XOM +80%, MSFT -28%); a 10-point band first breaks on the
        # first session when XOM's weight exceeds 60%.
        px = prices.loc["2021-12-31":"2022-12-28", ["XOM", "MSFT"]]
        shares = 0.5 / px.iloc[0]
        weights = (px * shares).div((px * shares).sum(axis=1), axis=0)
        first_breach = weights.index[(weights["XOM"] > 0.60).to_numpy()][0].date()
        policy = {"kind": "drift", "band_pp": 10}
        decisions = {
            d.date(): should_rebalance(policy, market_date=d.date(), current_weights=row.to_dict(),
                                       target_weights={"XOM": 0.5, "MSFT": 0.5}, last_rebalance_date=None)[0]
            for d, row in weights.iterrows()
        }
        assert [d for d, fire in decisions.items() if fire][0] == first_breach
        assert all(not fire for d, fire in decisions.items() if d < first_breach)

        # Trades from that drifted book back to target land within a lot of it.
        day = pd.Timestamp(first_breach)
        marks = {s: money.price(float(prices.loc[day, s])) for s in ("XOM", "MSFT", "KO")}
        snap = PortfolioSnapshot(
            1, D("2500.00"),
            {"XOM": PositionSnapshot("XOM", D(300), marks["XOM"], marks["XOM"]),
             "MSFT": PositionSnapshot("MSFT", D(40), marks["MSFT"], marks["MSFT"])},
        )
        target = TargetWeights({"XOM": 0.4, "MSFT": 0.4, "KO": 0.2})
        lots = {"XOM": D(1), "MSFT": D(1), "KO": D(10)}
        trades = LotTradeBuilder(cost_bps=5).trades(target, snapshot=snap, lot_sizes=lots, prices=marks)
        assert cash_after(snap.cash, trades, 5) >= 0
        after = {s: (snap.positions[s].quantity if s in snap.positions else D(0)) for s in marks}
        for t in trades:
            after[t.symbol] += t.side.sign * t.quantity
        nav = snap.nav
        for s, w in target.weights.items():
            assert abs(D(repr(w)) * nav / marks[s] - after[s]) < lots[s], s
