"""The desk's ``Optimiser``: a strategy and its parameters from the portfolio's config.

Config (``PortfolioOptimiser.from_config``), every key but ``strategy`` optional::

    {"strategy": "black_litterman",       # see STRATEGIES
     "risk_model": "ledoit_wolf",         # sample | ledoit_wolf | exp_cov
     "return_model": "mean_historical",   # mean_historical | ema | capm
     "lookback_days": 756,                # daily returns used (3 years)
     "min_history_days": 30,              # fewer returns than this is an error
     "risk_free_rate": 0.02,              # annual
     "target_volatility": 0.15,           # efficient_risk
     "target_return": 0.12,               # efficient_return
     "ema_span": 500, "cov_span": 180,    # ema returns / exp_cov spans, in sessions
     "hrp_linkage": "single",
     "cla_objective": "max_sharpe",       # or "min_volatility"
     "risk_budgets": {"AAPL": 0.2, ...},  # risk_parity: share of risk per instrument (default equal)
     "sector_risk_budgets": {"Tech": 0.3, ...},  # or per sector, shared equally by its members
     "prior": "equal", "market_caps": {}, # black_litterman (see black_litterman.py)
     "risk_aversion": 2.5, "view_scale": 0.10, "tau": 0.05,
     "view_anchor": "prior",              # or "risk_free" (see black_litterman.py)
     "constraints": {...}}                # see constraints.py; merged under the call's

All returns and volatilities are annual fractions (0.12 = 12%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from desk.interfaces import ConfigError, Optimiser, TargetWeights, View

from . import black_litterman as bl
from . import risk_parity as rp
from .constraints import Constraints
from .errors import OptimisationError
from .limits import check_size
from .naive import equal_weight
from .threads import single_threaded_blas
from .estimates import (
    DEFAULT_LOOKBACK_DAYS,
    MIN_RETURN_ROWS,
    RETURN_MODELS,
    RISK_MODELS,
    check_covariance,
    expected_returns,
    price_window,
    risk_matrix,
)

# Strategies whose weights depend on the universe alone (see ``PortfolioOptimiser.metrics``).
NO_ESTIMATES = frozenset({"equal_weight"})


def _strategies():
    """The solver strategies (cvxpy, PyPortfolioOpt: a second of imports), loaded by the first optimisation that
    needs one, so an equal-weight backtest never pays for them."""
    from . import strategies

    return strategies


STRATEGIES = (
    "equal_weight",
    "min_volatility",
    "max_sharpe",
    "efficient_risk",
    "efficient_return",
    "hrp",
    "cla",
    "black_litterman",
    "risk_parity",
)


class PortfolioMetrics(NamedTuple):
    expected_return: float
    volatility: float
    sharpe: float | None  # None when volatility is zero (all cash)


def portfolio_metrics(weights: Any, mu: Any, cov: Any, risk_free_rate: float = 0.0) -> PortfolioMetrics:
    """Expected annual return, volatility and Sharpe ratio of ``weights``.

    ``weights`` is an array in the order of ``mu``/``cov``, or a mapping by symbol
    with ``mu`` a pandas Series and ``cov`` a DataFrame (missing symbols weigh 0).
    Cash (1 - sum of weights) earns the risk-free rate.
    """
    if isinstance(weights, Mapping):
        index = list(mu.index)
        w = np.array([float(weights.get(s, 0.0)) for s in index])
        mu_v, cov_v = mu.to_numpy(dtype=float), cov.loc[index, index].to_numpy(dtype=float)
    else:
        w, mu_v, cov_v = np.asarray(weights, float), np.asarray(mu, float), np.asarray(cov, float)
    ret = float(w @ mu_v) + (1.0 - float(w.sum())) * risk_free_rate
    vol = float(np.sqrt(max(float(w @ cov_v @ w), 0.0)))
    sharpe = (ret - risk_free_rate) / vol if vol > 1e-12 else None
    return PortfolioMetrics(ret, vol, sharpe)


_PARAM_DEFAULTS: dict[str, Any] = {
    "risk_model": "ledoit_wolf",
    "return_model": "mean_historical",
    "lookback_days": DEFAULT_LOOKBACK_DAYS,
    "min_history_days": MIN_RETURN_ROWS,
    "risk_free_rate": 0.02,
    "target_volatility": None,
    "target_return": None,
    "ema_span": 500,
    "cov_span": 180,
    "hrp_linkage": "single",
    "cla_objective": "max_sharpe",
    "prior": "equal",
    "market_caps": None,
    "market_returns": None,
    "risk_aversion": bl.DEFAULT_RISK_AVERSION,
    "view_scale": bl.DEFAULT_VIEW_SCALE,
    "view_anchor": "prior",
    "tau": bl.DEFAULT_TAU,
    "risk_budgets": None,
    "sector_risk_budgets": None,
    # Read by ``deadline.DeadlineOptimiser`` around this optimiser (None: the desk's setting).
    "deadline_seconds": None,
    "fallback_strategy": None,
}


@dataclass(frozen=True)
class Estimates:
    """The inputs one optimisation used: universe, expected returns, covariance."""

    symbols: tuple[str, ...]
    mu: np.ndarray
    cov: np.ndarray
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def mu_series(self) -> pd.Series:
        return pd.Series(self.mu, index=list(self.symbols))

    @property
    def cov_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.cov, index=list(self.symbols), columns=list(self.symbols))


@dataclass(frozen=True)
class PortfolioOptimiser(Optimiser):
    """``interfaces.Optimiser`` over PyPortfolioOpt; stateless, so one per portfolio config."""

    strategy: str = "max_sharpe"
    params: Mapping[str, Any] = field(default_factory=dict)
    constraints: Constraints = field(default_factory=Constraints)
    # False: a caller that never reads ``TargetWeights``' expected return, volatility and
    # Sharpe (a backtest) lets strategies that need no estimates skip the covariance.
    metrics: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError("strategy", f"unknown strategy {self.strategy!r} (known: {', '.join(STRATEGIES)})")
        unknown = sorted(set(self.params) - set(_PARAM_DEFAULTS))
        if unknown:
            raise ConfigError(unknown[0], "unknown optimiser parameter")
        p = self.p
        if p["risk_model"] not in RISK_MODELS:
            raise ConfigError("risk_model", f"must be one of {', '.join(RISK_MODELS)}")
        if p["return_model"] not in RETURN_MODELS:
            raise ConfigError("return_model", f"must be one of {', '.join(RETURN_MODELS)}")
        if int(p["lookback_days"]) < 2:
            raise ConfigError("lookback_days", "must be at least 2 sessions")
        for name, strategy in (("target_volatility", "efficient_risk"), ("target_return", "efficient_return")):
            if self.strategy == strategy and p[name] is None:
                raise ConfigError(name, f"the {strategy} strategy needs a {name.replace('_', ' ')}")
        if self.strategy == "efficient_risk" and float(p["target_volatility"]) <= 0:
            raise ConfigError("target_volatility", "must be positive")
        if p["prior"] not in ("equal", "market"):
            raise ConfigError("prior", "must be 'equal' or 'market'")
        if p["cla_objective"] not in ("max_sharpe", "min_volatility"):
            raise ConfigError("cla_objective", "must be 'max_sharpe' or 'min_volatility'")
        rp.check_budgets(p["risk_budgets"], p["sector_risk_budgets"])
        if self.strategy == "risk_parity" and self.constraints.long_short:
            raise ConfigError("strategy", "risk parity is long-only; a long/short portfolio cannot use it")
        self._check_deadline(p)

    def _check_deadline(self, p: Mapping[str, Any]) -> None:
        if p["deadline_seconds"] is not None:
            try:
                ok = float(p["deadline_seconds"]) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError("deadline_seconds", "must be a positive number of seconds")
        fallback = p["fallback_strategy"]
        if fallback is not None and fallback != self.strategy:
            params = {k: v for k, v in self.params.items() if k != "fallback_strategy"}
            try:
                PortfolioOptimiser(strategy=str(fallback), params=params, constraints=self.constraints)
            except ConfigError as e:
                raise ConfigError("fallback_strategy", e.reason) from None

    def check_universe(self, symbols, sectors=None) -> None:
        """Refuse, before any work, a universe this strategy is not allowed or budgets naming
        what is not in it; ``ConfigError`` naming the field."""
        check_size(self.strategy, len(symbols))
        if self.strategy == "risk_parity":
            p = self.p
            rp.check_budget_names(list(symbols), dict(sectors or {}), p["risk_budgets"], p["sector_risk_budgets"])

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PortfolioOptimiser:
        """From a portfolio's stored config; raises ``ConfigError`` naming the bad key."""
        config = dict(config)
        strategy = str(config.pop("strategy", "max_sharpe"))
        constraints = Constraints.from_config(config.pop("constraints", None))
        params = {**dict(config.pop("params", None) or {}), **config}
        return cls(strategy=strategy, params=params, constraints=constraints)

    @property
    def p(self) -> dict[str, Any]:
        return {**_PARAM_DEFAULTS, **self.params}

    # ------------------------------------------------------------------

    def estimates(self, prices: pd.DataFrame, views: Mapping[str, View] | None = None) -> Estimates:
        """Expected returns and covariance as this strategy sees them (BL: the posterior)."""
        p = self.p
        window = price_window(prices, int(p["lookback_days"]), int(p["min_history_days"]))
        cov = risk_matrix(window, p["risk_model"], span=int(p["cov_span"]))
        check_covariance(cov, window.symbols, p["risk_model"])
        notes = []
        if window.dropped:
            notes.append(f"Left out for lack of price history: {', '.join(window.dropped)}.")
        rf = float(p["risk_free_rate"])
        if self.strategy == "black_litterman":
            mu, cov, used = bl.posterior(
                cov,
                window.symbols,
                views or {},
                prior=p["prior"],
                market_caps=p["market_caps"],
                risk_aversion=float(p["risk_aversion"]),
                risk_free_rate=rf,
                view_scale=float(p["view_scale"]),
                view_anchor=p["view_anchor"],
                tau=float(p["tau"]),
            )
            notes.append(f"Black-Litterman with {used} view(s) on a {p['prior']} prior.")
        else:
            mu = expected_returns(
                window, p["return_model"], risk_free_rate=rf, span=int(p["ema_span"]), market_returns=p["market_returns"]
            )
        return Estimates(window.symbols, mu, cov, window.dropped, tuple(notes))

    @single_threaded_blas
    def optimise(
        self,
        *,
        prices: Any,
        views: Mapping[str, View],
        current_weights: Mapping[str, float],
        constraints: Mapping[str, Any],
    ) -> TargetWeights:
        cons = self.constraints.merged(constraints)
        if isinstance(prices, pd.DataFrame):
            self.check_universe([str(c) for c in prices.columns], cons.sector_mapper)
        if not self.metrics and self.strategy in NO_ESTIMATES:
            return self._without_estimates(prices, cons)
        est = self.estimates(prices, views)
        symbols, mu, cov = est.symbols, est.mu, est.cov
        current = np.array([float(current_weights.get(s, 0.0)) for s in symbols])
        rf = float(self.p["risk_free_rate"])
        w = self._solve(symbols, mu, cov, cons, current, rf)
        notes = est.notes
        if self.strategy == "risk_parity":
            w, budget_notes = w
            notes = (*notes, *budget_notes)
        w = _clean(w, cons)
        breaches = cons.breaches(symbols, w)
        if breaches:
            raise OptimisationError(
                "constraint_breached",
                f"The {self.strategy.replace('_', ' ')} strategy cannot enforce these constraints and its "
                f"weights break them: {'; '.join(breaches[:3])}. Use max Sharpe or minimum volatility.",
            )
        m = portfolio_metrics(w, mu, cov, rf)
        return TargetWeights(
            weights={s: float(x) for s, x in zip(symbols, w)},
            strategy=self.strategy,
            expected_return=m.expected_return,
            volatility=m.volatility,
            sharpe=m.sharpe,
            notes=notes,
        )

    def _without_estimates(self, prices: Any, cons: Constraints) -> TargetWeights:
        """Equal weight over the instruments with a full price window: no returns, no covariance.

        The universe, the errors (too little history, bad prices) and the notes are the
        ones ``estimates`` gives; only the covariance checks and the metrics are skipped.
        """
        p = self.p
        window = price_window(prices, int(p["lookback_days"]), int(p["min_history_days"]))
        symbols = window.symbols
        w = _clean(equal_weight(symbols), cons)
        breaches = cons.breaches(symbols, w)
        if breaches:
            raise OptimisationError(
                "constraint_breached",
                f"The {self.strategy.replace('_', ' ')} strategy cannot enforce these constraints and its "
                f"weights break them: {'; '.join(breaches[:3])}. Use max Sharpe or minimum volatility.",
            )
        notes = (f"Left out for lack of price history: {', '.join(window.dropped)}.",) if window.dropped else ()
        return TargetWeights(weights={s: float(x) for s, x in zip(symbols, w)}, strategy=self.strategy, notes=notes)

    def evaluate(
        self, *, prices: Any, weights: Mapping[str, float], views: Mapping[str, View] | None = None
    ) -> PortfolioMetrics:
        """Metrics of any weights (e.g. the current portfolio) on this strategy's estimates."""
        est = self.estimates(prices, views)
        return portfolio_metrics(weights, est.mu_series, est.cov_frame, float(self.p["risk_free_rate"]))

    def _solve(self, symbols, mu, cov, cons: Constraints, current, rf: float) -> np.ndarray:
        p, s = self.p, self.strategy
        if s == "equal_weight":
            return equal_weight(symbols)
        if s == "hrp":
            return _strategies().hrp(cov, symbols, linkage=p["hrp_linkage"])
        if s == "risk_parity":
            if cons.long_short:
                raise OptimisationError("infeasible", "Risk parity is long-only; this portfolio is long/short.")
            cons.check_feasible(symbols)
            per_asset, per_sector = rp.check_budgets(p["risk_budgets"], p["sector_risk_budgets"])
            budgets, notes = rp.budget_vector(symbols, cons.sector_mapper, per_asset, per_sector)
            lo, hi = cons.bounds(symbols)
            w = rp.risk_parity(cov, budgets, lo, hi)
            return w, (*notes, *rp.bound_notes(symbols, w, budgets, lo, hi))
        cons.check_feasible(symbols)
        if s in ("max_sharpe", "black_litterman"):
            return _strategies().max_sharpe(mu, cov, symbols, cons, risk_free_rate=rf, current=current)
        if s == "min_volatility":
            return _strategies().min_volatility(mu, cov, symbols, cons, current=current)
        if s == "efficient_risk":
            return _strategies().efficient_risk(mu, cov, symbols, cons, target_volatility=float(p["target_volatility"]), current=current)
        if s == "efficient_return":
            return _strategies().efficient_return(mu, cov, symbols, cons, target_return=float(p["target_return"]), current=current)
        return _strategies().cla(mu, cov, symbols, cons, risk_free_rate=rf, objective=p["cla_objective"])


def _clean(w: np.ndarray, cons: Constraints) -> np.ndarray:
    # Solvers return -1e-12 for "zero"; a long-only book must not read that as a short.
    w = np.where(np.abs(w) < 1e-9, 0.0, np.asarray(w, dtype=float))
    if not cons.long_short:
        w = np.clip(w, 0.0, None)
    total = w.sum()
    if abs(total - 1.0) < 1e-4 and total > 0:
        w = w / total
    return w


def efficient_frontier_points(
    prices: pd.DataFrame,
    n: int = 20,
    *,
    params: Mapping[str, Any] | None = None,
    constraints: Mapping[str, Any] | None = None,
) -> list[tuple[float, float]]:
    """``n`` (volatility, expected return) points on the constrained frontier, by rising volatility.

    From the minimum-volatility portfolio to the highest-return one the constraints
    allow, for the portfolio page's chart. ``params`` are optimiser parameters
    (risk/return model, lookback); mark the current and proposed portfolios with
    ``PortfolioOptimiser.evaluate`` on the same params.
    """
    opt = PortfolioOptimiser(strategy="min_volatility", params=dict(params or {}), constraints=Constraints.from_config(constraints))
    est = opt.estimates(prices)
    symbols, mu, cov, cons = est.symbols, est.mu, est.cov, opt.constraints
    cons.check_feasible(symbols)
    w_min = _strategies().min_volatility(mu, cov, symbols, cons)
    r_lo, r_hi = float(w_min @ mu), _strategies().max_return(mu, symbols, cons)
    # Stop a hair short of the top: the exact maximum is a vertex solvers call infeasible.
    targets = np.linspace(r_lo, r_hi - 1e-6 * max(abs(r_hi - r_lo), 1e-9), max(int(n), 2))
    points = [(float(np.sqrt(w_min @ cov @ w_min)), r_lo)]
    ef = None
    for target in targets[1:]:
        try:
            if ef is None:
                ef = _strategies()._frontier(mu, cov, symbols, cons, _strategies().solvers()[0], None)
            # PyPortfolioOpt re-solves the same problem with a new target parameter.
            ef.efficient_return(float(target))
        except Exception:  # noqa: BLE001 - one unsolvable point must not lose the chart
            ef = None
            continue
        w = np.asarray(ef.weights, float)
        points.append((float(np.sqrt(max(w @ cov @ w, 0.0))), float(w @ mu)))
    return sorted(points)


__all__ = [
    "STRATEGIES",
    "Estimates",
    "PortfolioMetrics",
    "PortfolioOptimiser",
    "efficient_frontier_points",
    "portfolio_metrics",
]
