"""Optimisation core: estimators, strategies, constraints, failures a trader can read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import CLA, EfficientFrontier, HRPOpt, expected_returns as pf_returns, risk_models as pf_risk

from desk.interfaces import ConfigError, TargetWeights, View
from portfolio_app.optimisation import Constraints, OptimisationError, PortfolioOptimiser, efficient_frontier_points, expected_returns, portfolio_metrics, posterior, price_window, risk_matrix, view_returns
from portfolio_app.optimisation import strategies as st


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset().iloc[-757:]  # 3 years of returns ending 2022-12-28


def optimise(demo, strategy="max_sharpe", constraints=None, current=None, views=None, **params) -> TargetWeights:
    return PortfolioOptimiser(strategy, params).optimise(
        prices=demo, views=views or {}, current_weights=current or {}, constraints=constraints or {}
    )


# --- estimators reproduce PyPortfolioOpt --------------------------------------------


@pytest.mark.parametrize(
    "model, reference",
    [
        ("sample", lambda p: pf_risk.sample_cov(p)),
        ("ledoit_wolf", lambda p: pf_risk.CovarianceShrinkage(p).ledoit_wolf()),
        ("exp_cov", lambda p: pf_risk.exp_cov(p, span=180)),
    ],
)
def test_risk_matrix_when_computed_then_matches_pypfopt(demo, model, reference):
    prices = demo.iloc[-300:, :6]
    ours = risk_matrix(price_window(prices, 299), model, span=180)
    np.testing.assert_allclose(ours, reference(prices).to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "model, reference",
    [
        ("mean_historical", lambda p: pf_returns.mean_historical_return(p)),
        ("ema", lambda p: pf_returns.ema_historical_return(p, span=500)),
        ("capm", lambda p: pf_returns.capm_return(p, risk_free_rate=0.02)),
    ],
)
def test_expected_returns_when_computed_then_match_pypfopt(demo, model, reference):
    prices = demo.iloc[-300:, :6]
    ours = expected_returns(price_window(prices, 299), model, risk_free_rate=0.02)
    np.testing.assert_allclose(ours, reference(prices).to_numpy(), rtol=1e-9)


# --- hand-checked strategies --------------------------------------------------------

TWO_MU = np.array([0.10, 0.20])
TWO_COV = np.diag([0.04, 0.09])  # uncorrelated, vols 20% and 30%


def test_max_sharpe_when_two_uncorrelated_assets_then_weights_proportional_to_excess_over_variance():
    # Tangency: w ∝ Σ⁻¹(μ - rf) = [0.10/0.04, 0.20/0.09] = [2.5, 2.2222] -> [0.5294, 0.4706].
    w = st.max_sharpe(TWO_MU, TWO_COV, ["A", "B"], Constraints(), risk_free_rate=0.0)
    np.testing.assert_allclose(w, [2.5 / (2.5 + 20 / 9), (20 / 9) / (2.5 + 20 / 9)], atol=1e-6)


def test_min_volatility_when_two_uncorrelated_assets_then_inverse_variance_weights():
    # w ∝ 1/σ² = [25, 11.11] -> [0.6923, 0.3077]; variance 1/(25 + 11.11) = 0.02769.
    w = st.min_volatility(TWO_MU, TWO_COV, ["A", "B"], Constraints())
    np.testing.assert_allclose(w, [25 / (25 + 100 / 9), (100 / 9) / (25 + 100 / 9)], atol=1e-6)
    assert portfolio_metrics(w, TWO_MU, TWO_COV).volatility == pytest.approx(np.sqrt(1 / (25 + 100 / 9)), abs=1e-6)


def test_portfolio_metrics_when_half_in_each_then_hand_computed_figures():
    # Return 0.15; variance 0.25·0.04 + 0.25·0.09 = 0.0325; Sharpe (0.15 - 0.02)/0.18028.
    m = portfolio_metrics({"A": 0.5, "B": 0.5}, pd.Series(TWO_MU, ["A", "B"]), pd.DataFrame(TWO_COV, ["A", "B"], ["A", "B"]), 0.02)
    assert m.expected_return == pytest.approx(0.15)
    assert m.volatility == pytest.approx(np.sqrt(0.0325))
    assert m.sharpe == pytest.approx(0.13 / np.sqrt(0.0325))


def test_max_sharpe_when_demo_data_then_matches_pypfopt(demo):
    target = optimise(demo, "max_sharpe", risk_model="sample", risk_free_rate=0.02)
    ef = EfficientFrontier(pf_returns.mean_historical_return(demo), pf_risk.sample_cov(demo), solver="CLARABEL")
    reference = ef.max_sharpe(risk_free_rate=0.02)
    for symbol, weight in reference.items():
        assert target.weights[symbol] == pytest.approx(weight, abs=1e-4)
    assert sum(target.weights.values()) == pytest.approx(1.0)
    assert target.sharpe == pytest.approx(ef.portfolio_performance(risk_free_rate=0.02)[2], rel=1e-5)


def test_cla_when_demo_data_then_same_tangency_as_max_sharpe(demo):
    by_cla = optimise(demo, "cla").weights
    by_qp = optimise(demo, "max_sharpe").weights
    for symbol in by_qp:
        assert by_cla[symbol] == pytest.approx(by_qp[symbol], abs=1e-4)


def test_hrp_when_demo_data_then_matches_pypfopt(demo):
    opt = PortfolioOptimiser("hrp")
    est = opt.estimates(demo)
    reference = HRPOpt(cov_matrix=est.cov_frame).optimize()
    target = opt.optimise(prices=demo, views={}, current_weights={}, constraints={})
    for symbol, weight in reference.items():
        assert target.weights[symbol] == pytest.approx(weight, abs=1e-12)


def test_equal_weight_when_twenty_stocks_then_five_percent_each(demo):
    weights = optimise(demo, "equal_weight").weights
    assert len(weights) == 20
    assert all(w == pytest.approx(0.05) for w in weights.values())


def test_efficient_risk_when_target_reachable_then_volatility_on_target(demo):
    target = optimise(demo, "efficient_risk", target_volatility=0.25)
    assert target.volatility == pytest.approx(0.25, abs=1e-5)


def test_efficient_return_when_target_reachable_then_return_on_target(demo):
    target = optimise(demo, "efficient_return", target_return=0.30)
    assert target.expected_return == pytest.approx(0.30, abs=1e-5)


# --- constraints ------------------------------------------------------------------


def test_optimise_when_bounds_and_sector_caps_then_every_limit_held(demo):
    sectors = {s: ("Tech" if s in ("AAPL", "AMD", "MSFT") else "Health" if s in ("JNJ", "LLY", "MRK", "PFE", "UNH") else "Other") for s in demo.columns}
    constraints = {"weight_bounds": [0.0, 0.15], "sector_mapper": sectors, "sector_upper": {"Health": 0.25, "Tech": 0.20}}
    for strategy in ("max_sharpe", "min_volatility", "efficient_risk", "efficient_return"):
        w = optimise(demo, strategy, constraints, target_volatility=0.22, target_return=0.2).weights
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-6), strategy
        assert max(w.values()) <= 0.15 + 1e-6, strategy
        assert sum(w[s] for s in w if sectors[s] == "Health") <= 0.25 + 1e-6, strategy
        assert sum(w[s] for s in w if sectors[s] == "Tech") <= 0.20 + 1e-6, strategy


def test_max_sharpe_when_long_short_with_gross_limit_then_shorts_within_gross(demo):
    w = np.array(list(optimise(demo, "max_sharpe", {"long_short": True, "gross_limit": 1.5}).weights.values()))
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.abs(w).sum() == pytest.approx(1.5, abs=1e-4)  # the gross limit binds
    assert (w < -1e-4).any()


def test_max_sharpe_when_turnover_cost_prohibitive_then_stays_at_current_weights(demo):
    current = {s: 0.05 for s in demo.columns}
    w = optimise(demo, "max_sharpe", {"turnover_cost": 10.0}, current=current).weights
    for symbol in current:
        assert w[symbol] == pytest.approx(0.05, abs=1e-5)


def test_max_sharpe_when_l2_regularised_then_more_holdings(demo):
    def held(constraints):
        return sum(1 for v in optimise(demo, "max_sharpe", constraints).weights.values() if v > 1e-4)

    assert held({"l2_gamma": 1.0}) > held({})


def test_hrp_when_caps_broken_then_error_names_the_breach(demo):
    with pytest.raises(OptimisationError) as err:
        optimise(demo, "hrp", {"weight_bounds": [0.0, 0.02]})
    assert err.value.code in {"infeasible", "constraint_breached"}


# --- failures a trader can read ------------------------------------------------------


def test_max_sharpe_when_no_asset_beats_risk_free_then_explains(demo):
    with pytest.raises(OptimisationError) as err:
        optimise(demo, "max_sharpe", risk_free_rate=5.0)
    assert err.value.code == "no_excess_return"
    assert "risk-free rate of 500.00%" in str(err.value)


def test_optimise_when_upper_bounds_cannot_fill_portfolio_then_infeasible(demo):
    with pytest.raises(OptimisationError) as err:
        optimise(demo, "min_volatility", {"weight_bounds": [0.0, 0.04]})
    assert err.value.code == "infeasible"
    assert "80%" in str(err.value)  # 20 instruments x 4%


def test_optimise_when_sector_floors_exceed_whole_then_infeasible(demo):
    sectors = {s: ("A" if i < 10 else "B") for i, s in enumerate(demo.columns)}
    constraints = {"sector_mapper": sectors, "sector_lower": {"A": 0.6, "B": 0.6}}
    with pytest.raises(OptimisationError) as err:
        optimise(demo, "max_sharpe", constraints)
    assert err.value.code == "infeasible"


def test_optimise_when_too_few_price_rows_then_too_few_prices(demo):
    with pytest.raises(OptimisationError) as err:
        optimise(demo.iloc[-10:])
    assert err.value.code == "too_few_prices"
    assert "Only 9 days" in str(err.value)


def test_optimise_when_sample_covariance_singular_then_singular_covariance(demo):
    prices = demo.iloc[-41:].copy()  # 40 returns for 20 + 30 instruments
    for i in range(30):
        prices[f"X{i}"] = prices.iloc[:, i % 20] * (1 + i)
    with pytest.raises(OptimisationError) as err:
        optimise(prices, "min_volatility", risk_model="sample")
    assert err.value.code == "singular_covariance"


def test_efficient_risk_when_target_below_minimum_then_unreachable(demo):
    with pytest.raises(OptimisationError) as err:
        optimise(demo, "efficient_risk", target_volatility=0.05)
    assert err.value.code == "target_unreachable"


def test_efficient_return_when_target_above_maximum_then_unreachable(demo):
    with pytest.raises(OptimisationError) as err:
        optimise(demo, "efficient_return", {"weight_bounds": [0, 0.2]}, target_return=2.0)
    assert err.value.code == "target_unreachable"


def test_config_when_unknown_strategy_or_missing_target_then_config_error():
    with pytest.raises(ConfigError):
        PortfolioOptimiser.from_config({"strategy": "moonshot"})
    with pytest.raises(ConfigError) as err:
        PortfolioOptimiser.from_config({"strategy": "efficient_risk"})
    assert err.value.field == "target_volatility"
    with pytest.raises(ConfigError):
        PortfolioOptimiser.from_config({"strategy": "max_sharpe", "constraints": {"weight_bounds": [-0.1, 0.5]}})


def test_optimise_when_instrument_lacks_early_prices_then_left_out_with_note(demo):
    prices = demo.copy()
    prices.iloc[:100, 0] = np.nan
    target = optimise(prices, "min_volatility")
    assert demo.columns[0] not in target.weights
    assert any(demo.columns[0] in note for note in target.notes)


# --- Black-Litterman -------------------------------------------------------------


def test_view_returns_when_score_half_then_rf_plus_five_percent():
    absolute, conf = view_returns({"A": View("A", 0.5, 0.7), "Z": View("Z", 1.0, 1.0)}, ["A", "B"], risk_free_rate=0.02)
    assert absolute == {"A": pytest.approx(0.07)}
    assert conf == [0.7]


def test_view_returns_when_anchored_on_prior_then_prior_plus_score_times_scale():
    absolute, _conf = view_returns({"B": View("B", -1.0, 0.5)}, ["A", "B"], anchor=[0.08, 0.12], scale=0.10)
    assert absolute == {"B": pytest.approx(0.02)}


def test_posterior_when_view_nearly_certain_then_return_equals_view(demo):
    est = PortfolioOptimiser("min_volatility").estimates(demo)
    views = {"XOM": View("XOM", -0.5, 1.0)}
    mu, _cov, used = posterior(est.cov, est.symbols, views, risk_free_rate=0.02, view_anchor="risk_free")
    assert used == 1
    assert mu[est.symbols.index("XOM")] == pytest.approx(0.02 - 0.05, abs=2e-3)


def test_black_litterman_when_bullish_view_then_more_weight_than_without(demo):
    without = optimise(demo, "black_litterman").weights["KO"]
    with_view = optimise(demo, "black_litterman", views={"KO": View("KO", 0.8, 0.6)}).weights["KO"]
    assert without == pytest.approx(0.05, abs=1e-4)  # equal prior, no views: the equal-weight market
    assert with_view > without + 0.05


def test_black_litterman_when_market_prior_without_caps_then_config_error(demo):
    with pytest.raises(ConfigError):
        optimise(demo, "black_litterman", prior="market")


# --- frontier ------------------------------------------------------------------------


def test_efficient_frontier_points_when_ten_then_rising_from_min_volatility(demo):
    points = efficient_frontier_points(demo, 10)
    min_vol = optimise(demo, "min_volatility")
    assert len(points) == 10
    assert points[0][0] == pytest.approx(min_vol.volatility, abs=1e-6)
    vols, rets = zip(*points)
    assert list(vols) == sorted(vols) and list(rets) == sorted(rets)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"weight_bounds": [0.0, 0.1], "sector_mapper": {"AAPL": "T", "MSFT": "T", "AMD": "T"}, "sector_upper": {"T": 0.15}},
        {"long_short": True, "gross_limit": 1.6, "l2_gamma": 0.05},
        {"turnover_cost": 0.02},
    ],
)
def test_max_sharpe_when_direct_clarabel_then_same_as_cvxpy_formulation(demo, config):
    est = PortfolioOptimiser("max_sharpe").estimates(demo)
    cons = Constraints.from_config(config)
    current = np.full(len(est.symbols), 1 / len(est.symbols))
    direct = st.max_sharpe(est.mu, est.cov, est.symbols, cons, risk_free_rate=0.02, current=current)
    via_cvxpy = st._max_sharpe_cvxpy(
        est.mu - 0.02, est.cov, est.symbols, cons, current if cons.turnover_cost else None, "CLARABEL"
    )
    np.testing.assert_allclose(direct, via_cvxpy, atol=1e-5)


@pytest.mark.parametrize(
    "config",
    [{}, {"weight_bounds": [0.0, 0.1], "sector_mapper": {"AAPL": "T", "MSFT": "T"}, "sector_upper": {"T": 0.12}}],
)
def test_efficient_risk_when_direct_clarabel_then_same_as_pypfopt(demo, config):
    est = PortfolioOptimiser("max_sharpe").estimates(demo)
    cons = Constraints.from_config(config)
    direct = st.efficient_risk(est.mu, est.cov, est.symbols, cons, target_volatility=0.24)
    ef = st._frontier(est.mu, est.cov, est.symbols, cons, "CLARABEL", None)
    ef.efficient_risk(0.24)
    reference = np.asarray(ef.weights)
    # The objective is linear, so weights agree to solver tolerance and returns more tightly.
    assert est.mu @ direct == pytest.approx(est.mu @ reference, abs=1e-6)
    assert np.sqrt(direct @ est.cov @ direct) == pytest.approx(0.24, abs=1e-6)
    np.testing.assert_allclose(direct, reference, atol=1e-4)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"weight_bounds": [0.0, 0.1], "sector_mapper": {"AAPL": "T", "MSFT": "T", "AMD": "T"}, "sector_upper": {"T": 0.15}},
        {"long_short": True, "gross_limit": 1.6, "l2_gamma": 0.05},
        {"turnover_cost": 0.02},
    ],
)
@pytest.mark.parametrize("strategy", ["min_volatility", "efficient_return"])
def test_min_volatility_and_efficient_return_when_direct_clarabel_then_same_as_pypfopt(demo, config, strategy):
    est = PortfolioOptimiser("max_sharpe").estimates(demo)
    cons = Constraints.from_config(config)
    current = np.full(len(est.symbols), 1 / len(est.symbols))
    ef = st._frontier(est.mu, est.cov, est.symbols, cons, "CLARABEL", current)
    if strategy == "min_volatility":
        direct = st.min_volatility(est.mu, est.cov, est.symbols, cons, current=current)
        ef.min_volatility()
    else:
        direct = st.efficient_return(est.mu, est.cov, est.symbols, cons, target_return=0.25, current=current)
        ef.efficient_return(0.25)
        assert est.mu @ direct == pytest.approx(0.25, abs=1e-6) or est.mu @ direct > 0.25
    reference = np.asarray(ef.weights)

    def objective(w):
        return w @ est.cov @ w + cons.l2_gamma * w @ w + (cons.turnover_cost or 0.0) * np.abs(w - current).sum()

    assert objective(direct) == pytest.approx(objective(reference), rel=1e-5, abs=1e-8)
    np.testing.assert_allclose(direct, reference, atol=1e-4)
