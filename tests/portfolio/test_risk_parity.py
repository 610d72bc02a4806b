"""Risk parity and risk budgets (core), the size limit, the deadline and its fallback."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from bench.bench_optimisation import factor_model_prices
from desk.interfaces import ConfigError, TargetWeights
from portfolio_app.optimisation import Constraints, OptimisationError, PortfolioOptimiser
from portfolio_app.optimisation.deadline import DeadlineExceeded, DeadlineOptimiser, run_with_deadline
from portfolio_app.optimisation.risk_parity import risk_parity, risk_shares

RTOL = 1e-6


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset().iloc[-757:]


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return factor_model_prices(500)


def solve(prices, constraints=None, **params):
    opt = PortfolioOptimiser("risk_parity", params, Constraints.from_config(constraints))
    target = opt.optimise(prices=prices, views={}, current_weights={}, constraints={})
    est = opt.estimates(prices)
    w = np.array([target.weights[s] for s in est.symbols])
    return est, w, target


def test_risk_parity_when_sp500_demo_then_every_share_of_risk_equal_to_1e6(demo):
    est, w, _ = solve(demo)

    shares = risk_shares(w, est.cov)
    np.testing.assert_allclose(shares, np.full(20, 1 / 20), rtol=RTOL)
    assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w > 0).all()


def test_risk_parity_when_budgets_per_instrument_then_shares_equal_budgets(demo):
    symbols = list(demo.columns)
    budgets = {s: (0.1 if i < 5 else 0.5 / 15) for i, s in enumerate(symbols)}

    est, w, _ = solve(demo, risk_budgets=budgets)

    np.testing.assert_allclose(risk_shares(w, est.cov), [budgets[s] for s in est.symbols], rtol=RTOL)


def test_risk_parity_when_budgets_per_sector_then_sector_shares_equal_and_split_evenly(demo):
    symbols = list(demo.columns)
    mapper = {s: ("Growth" if i < 8 else "Value") for i, s in enumerate(symbols)}

    est, w, _ = solve(demo, {"sector_mapper": mapper}, sector_risk_budgets={"Growth": 0.7, "Value": 0.3})

    shares = risk_shares(w, est.cov)
    expected = [0.7 / 8 if mapper[s] == "Growth" else 0.3 / 12 for s in est.symbols]
    np.testing.assert_allclose(shares, expected, rtol=RTOL)


def test_risk_parity_when_500_factor_model_assets_then_shares_equal_budgets(big):
    est, w, _ = solve(big)
    np.testing.assert_allclose(risk_shares(w, est.cov), np.full(500, 1 / 500), rtol=RTOL)

    rng = np.random.default_rng(11)
    raw = rng.uniform(0.5, 2.0, 500)
    budgets = dict(zip(est.symbols, raw / raw.sum()))
    est, w, _ = solve(big, risk_budgets=budgets)
    np.testing.assert_allclose(risk_shares(w, est.cov), [budgets[s] for s in est.symbols], rtol=RTOL)


def test_risk_parity_when_covariance_diagonal_then_inverse_volatility_weights():
    variances = np.array([0.04, 0.09, 0.01, 0.25, 0.0625])
    inverse_vol = 1 / np.sqrt(variances)

    w = risk_parity(np.diag(variances))

    np.testing.assert_allclose(w, inverse_vol / inverse_vol.sum(), rtol=1e-12)


def test_risk_parity_when_caps_bind_then_free_holdings_equal_and_capped_ones_carry_less(big):
    est, w, target = solve(big, {"weight_bounds": [0.0, 0.0024]})

    rc = w * (est.cov @ w)
    capped = w >= 0.0024 - 1e-12
    assert capped.sum() > 10 and (w <= 0.0024 + 1e-12).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    per_budget = rc[~capped] * 500  # risk per unit of budget: one figure for every holding inside its bounds
    np.testing.assert_allclose(per_budget, per_budget.mean(), rtol=RTOL)
    assert (rc[capped] * 500 <= per_budget.mean() * (1 + RTOL)).all()
    assert any(n.startswith(f"Risk parity within bounds: {capped.sum()} holding(s) at their cap") for n in target.notes)


def test_risk_parity_when_zero_budget_then_not_held(demo):
    symbols = list(demo.columns)
    budgets = {s: 0.25 for s in symbols[:4]}

    est, w, target = solve(demo, risk_budgets=budgets)

    assert set(target.weights) == set(est.symbols) and sum(target.weights[s] > 0 for s in est.symbols) == 4
    np.testing.assert_allclose(risk_shares(w, est.cov)[w > 0], 0.25, rtol=RTOL)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"risk_budgets": {"AAPL": -0.5, "MSFT": 1.5}}, "risk_budgets.AAPL"),
        ({"risk_budgets": {"AAPL": 0.5, "MSFT": 0.4}}, "risk_budgets"),
        ({"risk_budgets": {"AAPL": 0.5, "ZZZZ": 0.5}}, "risk_budgets.ZZZZ"),
        ({"risk_budgets": {"AAPL": "half", "MSFT": 0.5}}, "risk_budgets.AAPL"),
        ({"sector_risk_budgets": {"Nowhere": 1.0}}, "sector_risk_budgets.Nowhere"),
        ({"risk_budgets": {"AAPL": 1.0}, "sector_risk_budgets": {"Tech": 1.0}}, "sector_risk_budgets"),
    ],
)
def test_risk_parity_when_budget_bad_then_config_error_names_field(demo, params, field):
    with pytest.raises(ConfigError) as caught:
        solve(demo, {"sector_mapper": {"AAPL": "Tech"}}, **params)
    assert caught.value.field == field


def test_risk_parity_when_long_short_then_refused():
    with pytest.raises(ConfigError) as caught:
        PortfolioOptimiser("risk_parity", {}, Constraints.from_config({"long_short": True}))
    assert caught.value.field == "strategy"


def test_cla_when_more_instruments_than_its_limit_then_config_error_names_the_limit():
    prices = factor_model_prices(101, n_days=60)

    with pytest.raises(ConfigError) as caught:
        PortfolioOptimiser("cla").optimise(prices=prices, views={}, current_weights={}, constraints={})

    assert caught.value.field == "strategy" and "limited to 100 instruments" in caught.value.reason


# --- the deadline (one-piece unit tests: a primary that never answers until released) ---------


def test_run_with_deadline_when_past_deadline_then_deadline_exceeded():
    release = threading.Event()
    try:
        with pytest.raises(DeadlineExceeded):
            run_with_deadline(lambda: release.wait(60), 0.05)
    finally:
        release.set()


def test_run_with_deadline_when_function_fails_then_its_error_raised():
    def fails():
        raise OptimisationError("infeasible", "no")

    with pytest.raises(OptimisationError):
        run_with_deadline(fails, 5)


class _Stuck:
    strategy = "cla"

    def __init__(self):
        self.release = threading.Event()

    def optimise(self, **kwargs):
        self.release.wait(60)
        return TargetWeights({}, strategy="cla")


def test_deadline_optimiser_when_strategy_misses_deadline_then_fallback_runs_and_is_recorded(demo):
    stuck = _Stuck()
    fallback = PortfolioOptimiser("min_volatility")
    try:
        timed = DeadlineOptimiser(stuck, fallback, deadline_seconds=0.05)
        target = timed.optimise(prices=demo, views={}, current_weights={}, constraints={})
    finally:
        stuck.release.set()

    assert target.strategy == "min_volatility" and sum(target.weights.values()) == pytest.approx(1.0)
    assert timed.fallback["strategy"] == "min_volatility" and timed.fallback["instead_of"] == "cla"
    assert "deadline of 0.05 s" in timed.fallback["why"] and timed.fallback["why"] in target.notes


def test_deadline_optimiser_when_no_fallback_then_deadline_error():
    stuck = _Stuck()
    try:
        with pytest.raises(OptimisationError) as caught:
            DeadlineOptimiser(stuck, None, deadline_seconds=0.05).optimise(
                prices=None, views={}, current_weights={}, constraints={})
    finally:
        stuck.release.set()
    assert caught.value.code == "deadline"


def test_single_threaded_blas_when_calls_overlap_then_limits_restored_once_the_last_leaves():
    from threadpoolctl import threadpool_info

    from portfolio_app.optimisation.threads import single_threaded_blas

    def blas_threads():
        return sorted((lib["filepath"], lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas")

    before = blas_threads()
    inside, release = threading.Event(), threading.Event()
    seen = {}

    @single_threaded_blas
    def outer():
        seen["outer"] = blas_threads()
        inside.set()
        release.wait(10)

    @single_threaded_blas
    def inner():
        return blas_threads()

    worker = threading.Thread(target=outer)
    worker.start()
    inside.wait(10)
    inner()  # overlaps the outer call and leaves first: must not restore the limits under it
    seen["after_inner"] = blas_threads()
    release.set()
    worker.join(10)

    assert seen["after_inner"] == seen["outer"] and {n for _, n in seen["outer"]} <= {1, *{n for _, n in before}}
    assert blas_threads() == before
    assert single_threaded_blas(blas_threads)() != before or {n for _, n in before} == {1}
