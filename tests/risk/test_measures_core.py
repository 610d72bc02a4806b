"""VaR/CVaR, drawdown and exposure: hand-worked numbers."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from desk.interfaces import OrderIntent, PortfolioSnapshot, PositionSnapshot, Side
from risk_app.measures import ReturnsMatrix, drawdown_from_peak, exposures, historical_cvar, historical_var, lower_quantile, max_drawdown, parametric_cvar, parametric_var, pnl_scenarios, risk_report, var_report

# P&L of -50, -49, ..., 50 USD: 101 scenarios, so the 5% quantile lands on the
# 6th smallest (index 5 = -45) and the 1% quantile on the 2nd (index 1 = -49).
PNL = np.arange(-50.0, 51.0)
SD = math.sqrt(2 * sum(k * k for k in range(1, 51)) / 100)  # sample sd, ddof=1: 29.3001...


def test_historical_var_when_101_scenarios_then_loss_at_the_sixth_worst():
    assert historical_var(PNL, 0.95) == pytest.approx(45.0)
    assert historical_var(PNL, 0.99) == pytest.approx(49.0)


def test_historical_var_when_order_shuffled_then_same():
    rng = np.random.default_rng(1)
    assert historical_var(rng.permutation(PNL), 0.95) == pytest.approx(45.0)


def test_historical_cvar_when_101_scenarios_then_mean_of_tail_including_var():
    assert historical_cvar(PNL, 0.95) == pytest.approx(47.5)  # mean of -50..-45
    assert historical_cvar(PNL, 0.99) == pytest.approx(49.5)  # mean of -50, -49


def test_lower_quantile_when_between_order_statistics_then_linear_like_numpy():
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    assert lower_quantile(x, 0.3) == pytest.approx(np.quantile(x, 0.3))


def test_parametric_var_when_symmetric_pnl_then_z_times_sd():
    assert parametric_var(PNL, 0.95) == pytest.approx(1.6448536 * SD, rel=1e-6)
    assert parametric_var(PNL, 0.99) == pytest.approx(2.3263479 * SD, rel=1e-6)


def test_parametric_cvar_when_symmetric_pnl_then_pdf_over_alpha_times_sd():
    # pdf(1.6449) / 0.05 = 2.0627128; pdf(2.3263) / 0.01 = 2.6652142
    assert parametric_cvar(PNL, 0.95) == pytest.approx(2.0627128 * SD, rel=1e-6)
    assert parametric_cvar(PNL, 0.99) == pytest.approx(2.6652142 * SD, rel=1e-6)


def test_var_report_when_built_then_every_figure_present():
    r = var_report(PNL)
    assert (r.var_hist_95, r.cvar_hist_99, r.scenarios) == (pytest.approx(45.0), pytest.approx(49.5), 101)
    assert r.cvar_param_95 > r.var_param_95 > 0


def test_pnl_scenarios_when_long_and_short_then_value_times_return():
    frame = pd.DataFrame({"A": [0.01, -0.02], "B": [0.02, 0.01]})
    rm = ReturnsMatrix.from_frame(frame)
    # row 1: 1000*0.01 - 500*0.02 = 0; row 2: 1000*-0.02 - 500*0.01 = -25; C has no history
    assert pnl_scenarios(rm, {"A": 1000.0, "B": -500.0, "C": 99.0}).tolist() == pytest.approx([0.0, -25.0])


def test_returns_from_prices_when_missing_day_then_zero_and_first_row_dropped():
    prices = pd.DataFrame({"A": [100.0, 110.0, 99.0], "B": [50.0, None, 50.0]})
    rm = ReturnsMatrix.from_prices(prices, lookback=None)
    assert rm.values[:, 0].tolist() == pytest.approx([0.1, -0.1])
    assert rm.values[:, 1].tolist() == [0.0, 0.0]


def test_drawdown_from_peak_when_below_peak_then_fraction():
    assert drawdown_from_peak(90, 100) == pytest.approx(0.10)
    assert drawdown_from_peak(D("110"), D("100")) == 0.0
    assert drawdown_from_peak(100, None) == 0.0


def test_max_drawdown_when_history_then_deepest_fall_from_running_peak():
    assert max_drawdown([100, 120, 90, 130, 117]) == pytest.approx(0.25)  # 120 -> 90
    assert max_drawdown([]) == 0.0


def _long_short():
    return PortfolioSnapshot(
        portfolio_id=1,
        cash=D("50000"),
        positions={
            "AAPL": PositionSnapshot("AAPL", D(100), D(90), D(100), "Tech"),
            "MSFT": PositionSnapshot("MSFT", D(50), D(100), D(100), "Tech"),
            "XOM": PositionSnapshot("XOM", D(-75), D(210), D(200), "Energy"),
        },
        open_orders=(OrderIntent(1, "XOM", Side.BUY, D(75)),),
        long_short=True,
        peak_nav=D("50000"),
    )


def test_exposures_when_long_short_then_gross_net_leverage_and_sectors():
    # NAV = 50,000 + 10,000 + 5,000 - 15,000 = 50,000
    e = exposures(_long_short())
    assert (e.nav, e.long, e.short, e.gross, e.net) == (50000.0, 15000.0, 15000.0, 30000.0, 0.0)
    assert (e.gross_pct, e.net_pct, e.leverage) == (pytest.approx(0.6), 0.0, pytest.approx(0.6))
    assert e.weights["XOM"] == pytest.approx(-0.3)
    assert e.sector_weights == {"Tech": pytest.approx(0.3), "Energy": pytest.approx(0.3)}


def test_exposures_when_open_orders_counted_then_as_if_filled():
    e = exposures(_long_short(), include_open_orders=True)
    assert e.weights["XOM"] == 0.0
    assert e.gross == pytest.approx(15000.0)


def test_risk_report_when_returns_given_then_var_and_dict():
    frame = pd.DataFrame({"AAPL": np.linspace(-0.05, 0.05, 101), "MSFT": 0.0, "XOM": 0.0})
    r = risk_report(_long_short(), ReturnsMatrix.from_frame(frame))
    assert r.var.var_hist_95 == pytest.approx(0.045 * 10000)
    d = r.to_dict()
    assert d["max_concentration"] == pytest.approx(0.3) and d["var_hist_95"] == pytest.approx(450.0)
    assert d["drawdown"] == 0.0 and d["max_sector_concentration"] == pytest.approx(0.3)
