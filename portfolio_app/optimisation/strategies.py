"""The strategies: numpy inputs (expected returns, covariance) in, a weight vector out.

PyPortfolioOpt does the work, with the solver named explicitly (CLARABEL first,
then whichever fallbacks are installed) so a solver failure is tried again, and
any failure leaves as an ``OptimisationError`` a trader can read.

Max Sharpe is written directly (the Cornuejols-Tutuncu homogenisation PyPortfolioOpt
uses), handed straight to CLARABEL (``direct.py``) and through cvxpy to the fallbacks, because PyPortfolioOpt's version cannot scale a turnover
penalty: with ``y = k w`` it would charge ``|y - w_prev|`` instead of
``|y - k w_prev|``. Here the turnover cost comes off the expected return, so the
problem maximises the Sharpe ratio *net of trading costs*, and an L2 term adds
``gamma * |w|^2`` to the variance (a shrunk, more diversified tangency portfolio).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

import cvxpy as cp
import numpy as np
import pandas as pd
from pypfopt import CLA, EfficientFrontier, objective_functions
from pypfopt import exceptions as pf_exceptions

from . import direct
from .constraints import Constraints
from .errors import OptimisationError
from .naive import equal_weight  # noqa: F401  (a strategy of this module's set; it lives where no solver is imported)

T = TypeVar("T")

SOLVER_PREFERENCE = ("CLARABEL", "ECOS", "SCS", "OSQP")
_OK = {"optimal", "optimal_inaccurate"}


@functools.cache
def solvers() -> tuple[str, ...]:
    """Installed solvers in the desk's order of preference (CLARABEL first)."""
    installed = set(cp.installed_solvers())
    return tuple(s for s in SOLVER_PREFERENCE if s in installed)


class _Infeasible(Exception):
    pass


def solve_with_fallback(attempt: Callable[[str], T], what: str) -> T:
    """Run ``attempt(solver)`` for each solver until one succeeds.

    Infeasibility is a property of the problem, not the solver, so it is not retried.
    """
    failures = []
    for solver in solvers():
        try:
            return attempt(solver)
        except _Infeasible:
            raise
        except (pf_exceptions.OptimizationError, cp.SolverError, ArithmeticError) as exc:
            text = str(exc) or type(exc).__name__
            if "infeasible" in text.lower():
                raise _Infeasible(text) from exc
            failures.append(f"{solver}: {text.splitlines()[0][:80]}")
    raise OptimisationError(
        "solver_failed",
        f"The optimiser could not solve {what} (tried {'; '.join(failures) or 'no solver installed'}); "
        "try a simpler strategy, fewer constraints, or Ledoit-Wolf shrinkage.",
    )


def _infeasible(what: str) -> OptimisationError:
    return OptimisationError(
        "infeasible",
        f"No portfolio meets all the constraints at once for {what} "
        "(per-instrument limits, sector caps, gross limit); loosen one of them.",
    )


def _solve(problem: cp.Problem, solver: str) -> None:
    problem.solve(solver=solver)
    if problem.status in ("infeasible", "infeasible_inaccurate"):
        raise _Infeasible(problem.status)
    if problem.status not in _OK:
        raise pf_exceptions.OptimizationError(f"Solver status: {problem.status}")


def feasible(symbols: Sequence[str], cons: Constraints) -> bool:
    """Whether any fully invested portfolio meets ``cons`` (a feasibility LP)."""
    w = cp.Variable(len(symbols))
    problem = cp.Problem(cp.Minimize(0), [cp.sum(w) == 1, *cons.cvxpy_constraints(w, symbols)])
    try:
        solve_with_fallback(lambda s: _solve(problem, s), "the feasibility check")
    except _Infeasible:
        return False
    return True


def max_return(mu: np.ndarray, symbols: Sequence[str], cons: Constraints) -> float:
    """The highest expected return any allowed portfolio has (an LP)."""
    w = cp.Variable(len(symbols))
    problem = cp.Problem(cp.Maximize(mu @ w), [cp.sum(w) == 1, *cons.cvxpy_constraints(w, symbols)])
    solve_with_fallback(lambda s: _solve(problem, s), "the maximum return")
    return float(problem.value)


# ---------------------------------------------------------------------------


def max_sharpe(
    mu: np.ndarray,
    cov: np.ndarray,
    symbols: Sequence[str],
    cons: Constraints,
    *,
    risk_free_rate: float,
    current: np.ndarray | None = None,
) -> np.ndarray:
    excess = mu - risk_free_rate
    if not cons.long_short and excess.max() <= 0:
        best = int(np.argmax(mu))
        raise OptimisationError(
            "no_excess_return",
            f"No instrument is expected to beat the risk-free rate of {risk_free_rate:.2%} "
            f"(the best is {symbols[best]} at {mu[best]:.2%}), so there is no maximum-Sharpe "
            "portfolio; use minimum volatility or lower the risk-free rate.",
        )
    use_current = bool(cons.turnover_cost) and current is not None
    lo, hi = cons.bounds(symbols)
    sectors = [(m, u, lw) for _s, m, u, lw in cons.sector_masks(symbols) if m.any()]

    def attempt(solver: str) -> np.ndarray:
        if solver == "CLARABEL":
            try:
                return direct.max_sharpe_qp(
                    excess, cov, lo, hi, sectors, gross_limit=cons.gross_limit, l2_gamma=cons.l2_gamma,
                    turnover_cost=cons.turnover_cost, current=current if use_current else None,
                )
            except direct.DirectInfeasible as exc:
                raise _Infeasible(str(exc)) from None
            except direct.DirectFailed as exc:
                raise pf_exceptions.OptimizationError(f"Solver status: {exc}") from None
        return _max_sharpe_cvxpy(excess, cov, symbols, cons, current if use_current else None, solver)

    try:
        return solve_with_fallback(attempt, "the maximum-Sharpe portfolio")
    except _Infeasible:
        if not feasible(symbols, cons):
            raise _infeasible("maximum Sharpe") from None
        raise OptimisationError(
            "no_excess_return",
            f"No portfolio the constraints allow is expected to beat the risk-free rate of "
            f"{risk_free_rate:.2%}, so there is no maximum-Sharpe portfolio; use minimum volatility.",
        ) from None


def _max_sharpe_cvxpy(excess, cov, symbols, cons: Constraints, current, solver: str) -> np.ndarray:
    """The same homogenised problem as ``direct.max_sharpe_qp``, through cvxpy for other solvers."""
    n = len(symbols)
    y = cp.Variable(n)
    k = cp.Variable(nonneg=True)
    risk = cp.quad_form(y, cp.psd_wrap(cov + cons.l2_gamma * np.eye(n)))
    ret = excess @ y
    if current is not None:
        ret = ret - cons.turnover_cost * cp.norm1(y - k * current)
    problem = cp.Problem(cp.Minimize(risk), [ret >= 1, cp.sum(y) == k, *cons.cvxpy_constraints(y, symbols, k)])
    _solve(problem, solver)
    return y.value / k.value


def _frontier(
    mu: np.ndarray, cov: np.ndarray, symbols: Sequence[str], cons: Constraints, solver: str, current: np.ndarray | None
) -> EfficientFrontier:
    lo, hi = cons.bounds(symbols)
    ef = EfficientFrontier(
        pd.Series(mu, index=list(symbols)),
        pd.DataFrame(cov, index=list(symbols), columns=list(symbols)),
        weight_bounds=list(zip(lo, hi)),
        solver=solver,
    )
    for _sec, mask, upper, lower in cons.sector_masks(symbols):
        if mask.any() and upper is not None:
            ef.add_constraint(lambda w, m=mask, u=upper: cp.sum(w[m]) <= u)
        if mask.any() and lower is not None:
            ef.add_constraint(lambda w, m=mask, v=lower: cp.sum(w[m]) >= v)
    if cons.gross_limit is not None:
        ef.add_constraint(lambda w, g=cons.gross_limit: cp.norm1(w) <= g)
    if cons.l2_gamma:
        ef.add_objective(objective_functions.L2_reg, gamma=cons.l2_gamma)
    if cons.turnover_cost and current is not None:
        ef.add_objective(objective_functions.transaction_cost, w_prev=current, k=cons.turnover_cost)
    return ef


def _weights(ef: EfficientFrontier) -> np.ndarray:
    return np.asarray(ef.weights, dtype=float)


def min_volatility(mu, cov, symbols, cons: Constraints, *, current=None) -> np.ndarray:
    def attempt(solver: str) -> np.ndarray:
        ef = _frontier(mu, cov, symbols, cons, solver, current)
        ef.min_volatility()
        return _weights(ef)

    try:
        return solve_with_fallback(attempt, "the minimum-volatility portfolio")
    except _Infeasible:
        raise _infeasible("minimum volatility") from None


def efficient_risk(mu, cov, symbols, cons: Constraints, *, target_volatility: float, current=None) -> np.ndarray:
    use_current = bool(cons.turnover_cost) and current is not None
    lo, hi = cons.bounds(symbols)
    sectors = [(m, u, lw) for _s, m, u, lw in cons.sector_masks(symbols) if m.any()]

    def attempt(solver: str) -> np.ndarray:
        if solver == "CLARABEL":
            try:
                return direct.efficient_risk_socp(
                    mu, cov, target_volatility, lo, hi, sectors, gross_limit=cons.gross_limit,
                    l2_gamma=cons.l2_gamma, turnover_cost=cons.turnover_cost, current=current if use_current else None,
                )
            except direct.DirectInfeasible as exc:
                raise _Infeasible(str(exc)) from None
            except direct.DirectFailed as exc:
                raise pf_exceptions.OptimizationError(f"Solver status: {exc}") from None
        ef = _frontier(mu, cov, symbols, cons, solver, current)
        ef.efficient_risk(target_volatility)
        return _weights(ef)

    try:
        return solve_with_fallback(attempt, f"the portfolio with {target_volatility:.2%} volatility")
    except (_Infeasible, ValueError):
        if not feasible(symbols, cons):
            raise _infeasible("the target volatility") from None
        w = min_volatility(mu, cov, symbols, cons)
        floor = float(np.sqrt(max(w @ cov @ w, 0.0)))
        raise OptimisationError(
            "target_unreachable",
            f"The target volatility of {target_volatility:.2%} is below the lowest volatility the "
            f"constraints allow ({floor:.2%}); raise the target.",
        ) from None


def efficient_return(mu, cov, symbols, cons: Constraints, *, target_return: float, current=None) -> np.ndarray:
    def attempt(solver: str) -> np.ndarray:
        ef = _frontier(mu, cov, symbols, cons, solver, current)
        ef.efficient_return(target_return, market_neutral=False)
        return _weights(ef)

    try:
        return solve_with_fallback(attempt, f"the portfolio returning {target_return:.2%}")
    except (_Infeasible, ValueError):
        if not feasible(symbols, cons):
            raise _infeasible("the target return") from None
        raise OptimisationError(
            "target_unreachable",
            f"The target return of {target_return:.2%} is above the highest expected return the "
            f"constraints allow ({max_return(mu, symbols, cons):.2%}); lower the target.",
        ) from None


def hrp(cov: np.ndarray, symbols: Sequence[str], *, linkage: str = "single") -> np.ndarray:
    """Hierarchical risk parity: PyPortfolioOpt's ``HRPOpt.optimize`` over numpy.

    PyPortfolioOpt's version indexes pandas inside the recursive bisection (~100 ms
    at 20 names, seconds at 500); this is the same algorithm step for step, and the
    tests hold it to PyPortfolioOpt's weights. Long-only by construction; bounds and
    sector caps are checked afterwards, not enforced.
    """
    import scipy.cluster.hierarchy as sch
    import scipy.spatial.distance as ssd

    if len(symbols) == 1:
        return np.ones(1)
    sd = np.sqrt(np.diag(cov))
    corr = np.round(cov / np.outer(sd, sd), 6)
    dist = ssd.squareform(np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0)), checks=False)
    order = sch.to_tree(sch.linkage(dist, linkage), rd=False).pre_order()
    w = np.ones(len(symbols))
    inv_var = 1.0 / np.diag(cov)

    def cluster_var(items: list[int]) -> float:
        iv = inv_var[items] / inv_var[items].sum()
        return float(iv @ cov[np.ix_(items, items)] @ iv)

    clusters = [order]
    while clusters:
        clusters = [c[a:b] for c in clusters for a, b in ((0, len(c) // 2), (len(c) // 2, len(c))) if len(c) > 1]
        for i in range(0, len(clusters), 2):
            first, second = clusters[i], clusters[i + 1]
            v1, v2 = cluster_var(first), cluster_var(second)
            alpha = 1 - v1 / (v1 + v2)
            w[first] *= alpha
            w[second] *= 1 - alpha
    return w


def cla(mu, cov, symbols, cons: Constraints, *, risk_free_rate: float, objective: str = "max_sharpe") -> np.ndarray:
    """Markowitz's critical line algorithm, exact for per-instrument bounds (no sector caps).

    PyPortfolioOpt's CLA maximises ``mu'w / vol`` with no risk-free rate, so it is
    given excess returns: with weights summing to 1 that is the Sharpe ratio.
    """
    lo, hi = cons.bounds(symbols)
    excess = mu - risk_free_rate
    if objective == "max_sharpe" and not cons.long_short and excess.max() <= 0:
        raise OptimisationError(
            "no_excess_return",
            f"No instrument is expected to beat the risk-free rate of {risk_free_rate:.2%}, "
            "so the critical line has no maximum-Sharpe point; use its minimum-volatility point.",
        )
    try:
        opt = CLA(pd.Series(excess, index=list(symbols)), pd.DataFrame(cov, index=list(symbols), columns=list(symbols)), weight_bounds=(lo, hi))
        weights = opt.max_sharpe() if objective == "max_sharpe" else opt.min_volatility()
    except (ValueError, np.linalg.LinAlgError, IndexError) as exc:
        raise OptimisationError(
            "solver_failed", f"The critical line algorithm failed ({exc}); try max Sharpe instead."
        ) from None
    return np.array([weights[s] for s in symbols], dtype=float)
