"""The seed's scenario tests (issue 9), real: backtest, benchmark, live (paper on a stepped clock), compare.

They belong in tests/execution/test_trade_execution_orchestrator.py (the lead moves them).
"""

from __future__ import annotations

import math
from datetime import date, time
from decimal import Decimal

import pytest

from execution_app.clock import NEW_YORK
from execution_app.scenario_metrics import METRIC_NAMES, metrics_table
from execution_app.scenarios import ScenarioConfig, run_backtest
from execution_app.scenarios.attribution import COMPONENTS, attribute_divergence
from execution_app.scenarios.benchmark import run_benchmark
from execution_app.scenarios.paper import demo_venues, run_paper

ADV = {"AAPL": 80e6, "AMD": 70e6, "BAC": 40e6, "BBY": 3e6, "CVX": 10e6, "GE": 7e6, "HD": 4e6, "JNJ": 7e6,
       "JPM": 11e6, "KO": 14e6, "LLY": 3e6, "MRK": 9e6, "MSFT": 30e6, "PEP": 5e6, "PFE": 30e6, "PG": 7e6,
       "RRC": 4e6, "UNH": 3e6, "WMT": 7e6, "XOM": 20e6}
PERIOD = {"start": "2022-01-03", "end": "2022-06-30", "rebalance": "monthly", "capital": "1000000"}


@pytest.fixture(scope="module")
def frames():
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    return load_sp500_dataset(), load_sp500_index().iloc[:, 0]


def test_backtesting_scenario(frames):
    closes, index = frames
    config = ScenarioConfig.from_values({**PERIOD, "strategy": "max_sharpe", "commission_bps": 5, "slippage_bps": 2,
                                         "params": {"lookback_days": 504}})

    result = run_backtest(closes, config, benchmark=index)

    # Invested at the first close, then at each month end (Jan..Jun), through risk, algo, router and MOC fills.
    assert [r["date"] for r in result.rebalances] == [
        "2022-01-03", "2022-01-31", "2022-02-28", "2022-03-31", "2022-04-29", "2022-05-31", "2022-06-30"]
    assert result.trades and all(t.qty == t.qty.to_integral_value() for t in result.trades)
    assert {t.date.isoformat() for t in result.trades} <= {r["date"] for r in result.rebalances}
    assert result.dates[0] == date(2022, 1, 3) and result.dates[-1] == date(2022, 6, 30)
    assert result.final_value == result.book_value  # the equity curve and the book agree to the cent
    assert result.total_commission > 0 and result.total_slippage > 0
    assert set(METRIC_NAMES) <= set(result.metrics)
    assert not math.isnan(result.metrics["sharpe"]) and result.metrics["max_drawdown"] < 0


def test_benchmarking_scenario(frames):
    closes, index = frames
    runs = {}
    for strategy in ("equal_weight", "min_volatility", "hrp"):
        cfg = ScenarioConfig.from_values({**PERIOD, "strategy": strategy, "commission_bps": 5})
        runs[strategy] = run_backtest(closes, cfg, benchmark=index)
    bench = run_benchmark(index, ScenarioConfig.from_values({**PERIOD, "strategy": "equal_weight"}))

    table = metrics_table({name: r.metrics for name, r in {**runs, "SPX": bench}.items()})

    assert list(table.columns) == ["equal_weight", "min_volatility", "hrp", "SPX"]
    assert table.at["beta", "SPX"] == pytest.approx(1.0) and table.at["tracking_error", "SPX"] == pytest.approx(0, abs=1e-12)
    for name in runs:
        assert 0.2 < table.at["beta", name] < 1.5 and table.at["tracking_error", name] > 0
    # Same data, same calendar: every run's equity and the benchmark share their dates.
    assert all(r.dates == bench.dates for r in runs.values())
    # The benchmark's return is the index's return over the period.
    assert bench.metrics["total_return"] == pytest.approx(index.loc["2022-06-30"] / index.loc["2022-01-03"] - 1, rel=1e-6)


def test_live_trading_scenario(frames):
    closes, index = frames
    config = ScenarioConfig.from_values({**PERIOD, "end": "2022-03-31", "strategy": "equal_weight",
                                         "commission_bps": "0.3", "slippage_bps": "1"})

    result = run_paper(closes, config, venues=demo_venues(), adv=ADV, benchmark=index)

    venues = {"LIT-A", "LIT-B", "DARK-X"}
    assert result.kind == "paper" and result.trades
    for t in result.trades:
        local = t.ts.astimezone(NEW_YORK)
        assert time(15, 30) <= local.time() <= time(16, 0)  # decided 30 min before the close, worked to it
        assert t.date.isoformat() in {r["date"] for r in result.rebalances}
        assert t.order_id.startswith("R")
    assert {t.venue for t in result.trades} <= venues and len({t.venue for t in result.trades}) >= 2
    assert result.final_value == result.book_value
    # Returns run from the first close's equity (already invested, first costs paid).
    assert len(result.equity_cents) == len(result.dates) and result.metrics["total_return"] == pytest.approx(
        int(result.equity_cents[-1]) / int(result.equity_cents[0]) - 1)


def test_compare_scenarios(frames):
    closes, index = frames
    values = {**PERIOD, "end": "2022-03-31", "strategy": "equal_weight", "commission_bps": "0.3", "slippage_bps": "1"}
    backtest = run_backtest(closes, ScenarioConfig.from_values(values), benchmark=index)
    paper = run_paper(closes, ScenarioConfig.from_values(values), venues=demo_venues(), adv=ADV, benchmark=index)
    marks = {s: Decimal(repr(round(float(closes.at[closes.index[closes.index <= "2022-03-31"][-1], s]), 6)))
             for s in closes.columns}

    att = attribute_divergence(backtest.trades, paper.trades, end_marks=marks)
    table = metrics_table({"backtest": backtest.metrics, "paper": paper.metrics})

    assert att["matched"] >= 60 and att["rows"]
    for row in att["rows"]:
        assert sum(Decimal(row[k]) for k in COMPONENTS) == Decimal(row["total"])
    # Paper decides 30 minutes before the close and pays spread and venue fees: timing and fill are non-zero.
    assert Decimal(att["totals"]["timing"]) != 0 and Decimal(att["totals"]["fill"]) != 0
    assert list(table.columns) == ["backtest", "paper"]
    assert table.at["total_return", "backtest"] != table.at["total_return", "paper"]
    # Same calendar and valuation at the closes: the curves start together.
    assert backtest.dates == paper.dates
