"""Scenario metrics, each checked against numbers worked by hand on a tiny run.

The main run: equity 100 -> 110 -> 99 -> 108.9, i.e. daily returns
r = (+10 %, -10 %, +10 %). Then
  mean(r) = 1/30, sample variance = ((1/15)^2 + (2/15)^2 + (1/15)^2) / 2 = 1/75,
  std = 1/sqrt(75) = 1 / (5 sqrt 3),
  peak 110 -> trough 99: max drawdown -10 %.
Most cases use ``periods_per_year=3`` so that the three returns are one year
and the annualisation factors stay hand-sized (sqrt 3).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from execution_app.scenarios import metrics as sm
from desk.interfaces import FillReport, LiquiditySide, Side

P = 3  # periods per year in the hand-worked cases
DATES = pd.to_datetime(["2022-01-03", "2022-01-04", "2022-01-05", "2022-01-06"])
SQRT3 = math.sqrt(3)


@pytest.fixture
def equity() -> pd.Series:
    return pd.Series([100.0, 110.0, 99.0, 108.9], index=DATES)


def curve(returns: list[float], start: float = 100.0, dates=DATES) -> pd.Series:
    return pd.Series(start * np.cumprod([1.0, *[1.0 + r for r in returns]]), index=dates)


# ---------------------------------------------------------------------------
# One run


def test_returns_from_equity_when_given_curve_then_simple_returns_without_first_day(equity):
    rets = sm.returns_from_equity(equity)

    assert list(rets.index) == list(DATES[1:])
    assert rets.to_numpy() == pytest.approx([0.1, -0.1, 0.1])


def test_total_return_when_100_to_108_9_then_8_9_percent(equity):
    assert sm.total_return(equity) == pytest.approx(0.089)


def test_cagr_when_run_is_one_year_then_equals_total_return(equity):
    assert sm.cagr(equity, periods_per_year=P) == pytest.approx(0.089)


def test_cagr_when_run_is_two_years_then_geometric_mean_per_year():
    equity = pd.Series([100.0, 110.0, 121.0], index=DATES[:3])

    # 2 returns at 1 per year = 2 years; 1.21 ** (1/2) - 1 = 10 %
    assert sm.cagr(equity, periods_per_year=1) == pytest.approx(0.10)


def test_annual_volatility_when_hand_case_then_sample_std_times_sqrt_periods(equity):
    # std = 1 / (5 sqrt 3); times sqrt 3 -> 1/5
    assert sm.annual_volatility(equity, periods_per_year=P) == pytest.approx(0.2)


def test_sharpe_when_no_risk_free_then_mean_over_std_times_sqrt_periods(equity):
    # (1/30) / (1 / (5 sqrt 3)) * sqrt 3 = 15 / 30 = 0.5
    assert sm.sharpe_ratio(equity, periods_per_year=P) == pytest.approx(0.5)


def test_sharpe_when_risk_free_given_annually_then_compounded_to_per_period(equity):
    rf_annual = 1.01**P - 1  # exactly 1 % per period

    # (1/30 - 1/100) * 5 sqrt 3 * sqrt 3 = (7/300) * 15 = 0.35
    assert sm.sharpe_ratio(equity, risk_free=rf_annual, periods_per_year=P) == pytest.approx(0.35)


def test_sortino_when_hand_case_then_downside_deviation_over_all_days(equity):
    # downside dev = sqrt((0 + 0.01 + 0) / 3) * sqrt 3 = 0.1; annual mean = 3/30 = 0.1
    assert sm.sortino_ratio(equity, periods_per_year=P) == pytest.approx(1.0)


def test_sortino_when_never_loses_then_nan():
    equity = pd.Series([100.0, 101.0, 102.0, 103.0], index=DATES)

    assert math.isnan(sm.sortino_ratio(equity))


def test_drawdown_series_when_hand_case_then_fall_below_running_peak(equity):
    dd = sm.drawdown_series(equity)

    assert list(dd.index) == list(DATES)
    assert dd.to_numpy() == pytest.approx([0.0, 0.0, -0.1, -0.01])


def test_max_drawdown_when_hand_case_then_minus_ten_percent(equity):
    assert sm.max_drawdown(equity) == pytest.approx(-0.1)


def test_max_drawdown_when_peak_before_two_losses_then_compounds_them():
    equity = pd.Series([100.0, 120.0, 90.0, 60.0], index=DATES)

    assert sm.max_drawdown(equity) == pytest.approx(-0.5)


def test_calmar_when_hand_case_then_cagr_over_abs_drawdown(equity):
    assert sm.calmar_ratio(equity, periods_per_year=P) == pytest.approx(0.089 / 0.1)


def test_calmar_when_never_draws_down_then_nan():
    equity = pd.Series([100.0, 101.0, 102.0, 103.0], index=DATES)

    assert math.isnan(sm.calmar_ratio(equity))


def test_sharpe_when_flat_equity_then_nan():
    equity = pd.Series([100.0] * 4, index=DATES)

    assert math.isnan(sm.sharpe_ratio(equity))


# ---------------------------------------------------------------------------
# Against a benchmark: b = (1 %, -2 %, 3 %), r = 2 b + 1 % = (3 %, -3 %, 7 %)

BENCH_RETURNS = [0.01, -0.02, 0.03]
RUN_RETURNS = [2 * b + 0.01 for b in BENCH_RETURNS]


def test_alpha_beta_when_run_is_twice_benchmark_plus_one_percent_then_beta_2_alpha_1pc_daily():
    alpha, beta = sm.alpha_beta(curve(RUN_RETURNS), curve(BENCH_RETURNS, start=4000.0), periods_per_year=P)

    assert beta == pytest.approx(2.0)
    assert alpha == pytest.approx(1.01**P - 1)  # annualised by compounding the daily alpha


def test_alpha_beta_when_risk_free_then_excess_returns_regressed():
    rf_annual = 1.005**P - 1  # 0.5 % per period

    alpha, beta = sm.alpha_beta(curve(RUN_RETURNS), curve(BENCH_RETURNS), risk_free=rf_annual, periods_per_year=P)

    # r - rf = 2 (b - rf) + 1 % + rf  ->  daily alpha 1.5 %
    assert beta == pytest.approx(2.0)
    assert alpha == pytest.approx(1.015**P - 1)


def test_beta_and_alpha_when_called_alone_then_match_alpha_beta():
    run, bench = curve(RUN_RETURNS), curve(BENCH_RETURNS)

    assert sm.beta(run, bench) == pytest.approx(2.0)
    assert sm.alpha(run, bench, periods_per_year=P) == pytest.approx(1.01**P - 1)


def test_tracking_error_when_hand_case_then_std_of_active_returns_annualised():
    # active = (2 %, -1 %, 4 %), mean 5/300; deviations (1, -8, 7)/300
    # sample var = 114 / 90000 / 2 -> std = sqrt(57) / 300; times sqrt 3
    te = sm.tracking_error(curve(RUN_RETURNS), curve(BENCH_RETURNS), periods_per_year=P)

    assert te == pytest.approx(math.sqrt(57) / 300 * SQRT3)


def test_information_ratio_when_hand_case_then_mean_active_over_its_std_annualised():
    ir = sm.information_ratio(curve(RUN_RETURNS), curve(BENCH_RETURNS), periods_per_year=P)

    assert ir == pytest.approx(5 / math.sqrt(57) * SQRT3)


def test_tracking_error_when_benchmark_has_extra_dates_then_aligned_on_common_dates():
    bench_dates = pd.to_datetime(
        ["2022-01-03", "2022-01-04", "2022-01-04 12:00", "2022-01-05", "2022-01-06"], format="ISO8601"
    )
    # An extra benchmark point mid-interval changes nothing once aligned.
    bench = pd.Series([100.0, 101.0, 55.0, 98.98, 101.9494], index=bench_dates)

    te = sm.tracking_error(curve(RUN_RETURNS), bench, periods_per_year=P)

    assert te == pytest.approx(math.sqrt(57) / 300 * SQRT3)


def test_information_ratio_when_run_equals_benchmark_then_nan():
    run = curve(BENCH_RETURNS)

    assert math.isnan(sm.information_ratio(run, run))
    assert sm.tracking_error(run, run) == pytest.approx(0.0)


# ---------------------------------------------------------------------------
# Trades: buy 10 @ 10 (100), sell 5 @ 12 (60) -> 160 traded


def trades() -> list:
    return [
        {"symbol": "AAA", "quantity": Decimal("10"), "price": Decimal("10"), "commission": Decimal("1.25")},
        FillReport(
            trade_id="t2",
            client_order_id="o2",
            venue="XNAS",
            symbol="AAA",
            side=Side.SELL,
            last_qty=Decimal("5"),
            last_px=Decimal("12"),
            commission=Decimal("0.75"),
            liquidity_side=LiquiditySide.TAKER,
            ts_event=pd.Timestamp("2022-01-05", tz="UTC").to_pydatetime(),
        ),
    ]


def test_turnover_when_hand_case_then_traded_notional_over_mean_equity(equity):
    # mean equity = (100 + 110 + 99 + 108.9) / 4 = 104.475
    assert sm.turnover(trades(), equity) == pytest.approx(160 / 104.475)


def test_annual_turnover_when_three_year_run_then_a_third_of_turnover(equity):
    # three returns at one per year = three years
    assert sm.annual_turnover(trades(), equity, periods_per_year=1) == pytest.approx(160 / 104.475 / 3)


def test_turnover_when_trade_gives_notional_and_negative_quantity_then_absolute_values(equity):
    given = [{"notional": "-100"}, {"qty": -5, "px": "12"}]

    assert sm.turnover(given, equity) == pytest.approx(160 / 104.475)


def test_total_costs_when_commission_and_slippage_then_summed_to_the_cent():
    given = [*trades(), {"quantity": 1, "price": 1, "fees": "0.004", "slippage_cost": "0.5"}]

    # 1.25 + 0.75 + 0.004 + 0.5 = 2.504 -> 2.50 (half-even to the cent)
    assert sm.total_costs(given) == Decimal("2.50")


def test_trade_notional_when_no_price_then_value_error():
    with pytest.raises(ValueError, match="no quantity and price"):
        sm.trade_notional({"quantity": 3})


# ---------------------------------------------------------------------------
# All metrics, side by side


def test_compute_metrics_when_no_benchmark_then_relative_metrics_nan(equity):
    metrics = sm.compute_metrics(equity, trades=trades(), periods_per_year=P)

    assert list(metrics) == list(sm.METRIC_NAMES)
    assert metrics["sharpe"] == pytest.approx(0.5)
    assert metrics["max_drawdown"] == pytest.approx(-0.1)
    assert math.isnan(metrics["beta"]) and math.isnan(metrics["information_ratio"])
    assert metrics["total_costs"] == Decimal("2.00")


def test_compute_metrics_when_benchmark_then_relative_metrics_filled():
    metrics = sm.compute_metrics(curve(RUN_RETURNS), curve(BENCH_RETURNS), periods_per_year=P)

    assert metrics["beta"] == pytest.approx(2.0)
    assert metrics["information_ratio"] == pytest.approx(5 / math.sqrt(57) * SQRT3)
    assert metrics["turnover"] == 0.0 and metrics["total_costs"] == Decimal("0.00")


def test_metrics_table_when_two_runs_then_one_column_each_in_metric_order(equity):
    backtest = sm.compute_metrics(equity, trades=trades(), periods_per_year=P)
    paper = {"total_return": 0.05, "sharpe": 0.3, "fill_rate": 0.97}

    table = sm.metrics_table({"backtest": backtest, "paper": paper})

    assert list(table.columns) == ["backtest", "paper"]
    assert list(table.index[: len(sm.METRIC_NAMES)]) == list(sm.METRIC_NAMES)
    assert table.index[-1] == "fill_rate"
    assert table.loc["total_return", "backtest"] == pytest.approx(0.089)
    assert table.loc["total_costs", "backtest"] == pytest.approx(2.0)
    assert table.loc["sharpe", "paper"] == 0.3
    assert math.isnan(table.loc["max_drawdown", "paper"])
    assert math.isnan(table.loc["fill_rate", "backtest"])


def test_metrics_table_when_given_raw_runs_then_computes_their_metrics():
    bench = curve(BENCH_RETURNS)
    runs = {
        "levered": {"equity": curve(RUN_RETURNS), "benchmark": bench},
        "index": {"equity": bench, "benchmark": bench},
    }

    table = sm.metrics_table(runs)

    assert table.loc["beta", "levered"] == pytest.approx(2.0)
    assert table.loc["beta", "index"] == pytest.approx(1.0)
    assert table.loc["total_return", "index"] == pytest.approx(1.01 * 0.98 * 1.03 - 1)


# --- The numpy statistics hold empyrical's definitions (empyrical stays the oracle; the desk no longer imports it) ----

EMPYRICAL_CASES = {
    "random walk": lambda rng: rng.normal(0.0004, 0.012, 600),
    "first return a loss": lambda rng: np.concatenate([[-0.05], rng.normal(0.001, 0.01, 50)]),
    "with missing returns": lambda rng: np.where(rng.random(300) < 0.05, np.nan, rng.normal(0.0, 0.02, 300)),
    "never drew down": lambda rng: np.abs(rng.normal(0.001, 0.002, 40)),
    "flat": lambda rng: np.zeros(30),
    "constant gain": lambda rng: np.full(25, 0.001),
    "two points": lambda rng: np.array([0.01, -0.02]),
}


@pytest.mark.parametrize("case", list(EMPYRICAL_CASES))
@pytest.mark.parametrize("risk_free", [0.0, 0.0001])
def test_statistics_when_computed_in_numpy_then_equal_to_empyrical(case, risk_free):
    import empyrical

    from execution_app.scenarios import metrics as m

    rng = np.random.default_rng(7)
    r = EMPYRICAL_CASES[case](rng)
    b = rng.normal(0.0003, 0.01, len(r))
    pairs = [
        (m._ep_cagr(r, 252), empyrical.cagr(r, annualization=252)),
        (m._ep_volatility(r, 252), empyrical.annual_volatility(r, annualization=252)),
        (m._ep_sharpe(r, risk_free, 252), empyrical.sharpe_ratio(r, risk_free=risk_free, annualization=252)),
        (m._ep_sortino(r, risk_free, 252), empyrical.sortino_ratio(r, required_return=risk_free, annualization=252)),
        (m._ep_max_drawdown(r), empyrical.max_drawdown(r)),
        (m._ep_calmar(r, 252), empyrical.calmar_ratio(r, annualization=252)),
        *zip(m._ep_alpha_beta(r, b, risk_free, 252), empyrical.alpha_beta_aligned(r, b, risk_free=risk_free, annualization=252)),
    ]
    for ours, theirs in pairs:
        assert ours == pytest.approx(float(theirs), rel=1e-9, abs=1e-12, nan_ok=True)
