"""Portfolio construction core: strategies, risk and return models, constraints.

Pure: numpy/pandas in, ``interfaces.TargetWeights`` out; no Django, no I/O.
"""

from .black_litterman import DEFAULT_VIEW_SCALE, posterior, view_excess_return, view_returns
from .constraints import Constraints
from .errors import OptimisationError
from .estimates import RETURN_MODELS, RISK_MODELS, PriceWindow, expected_returns, price_window, risk_matrix
from .optimiser import (
    STRATEGIES,
    Estimates,
    PortfolioMetrics,
    PortfolioOptimiser,
    efficient_frontier_points,
    portfolio_metrics,
)



def __getattr__(name: str):
    # The solvers' list imports cvxpy: only for the callers that ask for it.
    if name == "solvers":
        from .strategies import solvers

        return solvers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_VIEW_SCALE",
    "RETURN_MODELS",
    "RISK_MODELS",
    "STRATEGIES",
    "Constraints",
    "Estimates",
    "OptimisationError",
    "PortfolioMetrics",
    "PortfolioOptimiser",
    "PriceWindow",
    "efficient_frontier_points",
    "expected_returns",
    "portfolio_metrics",
    "posterior",
    "price_window",
    "risk_matrix",
    "solvers",
    "view_excess_return",
    "view_returns",
]
