"""How large a universe each strategy may be given, checked where a strategy is configured.

Every strategy but one solves 500 instruments in well under a second. The critical
line algorithm (PyPortfolioOpt's pure-Python ``CLA``) walks every turning point of
the frontier: its cost grows with the cube of the universe and more (about 0.5 s at
100 instruments, 5 s at 300, 10 s and more at 500), so it is refused above
``SIZE_LIMITS["cla"]`` with an error naming the limit, instead of occupying an
optimisation worker until its deadline. Max Sharpe gives the same tangency portfolio
at any size.
"""

from __future__ import annotations

from desk.interfaces import ConfigError

SIZE_LIMITS: dict[str, int] = {"cla": 100}


def check_size(strategy: str, n_instruments: int, limits: dict[str, int] | None = None) -> None:
    """``ConfigError("strategy", ...)`` when ``strategy`` is not allowed this many instruments."""
    limit = (SIZE_LIMITS if limits is None else limits).get(strategy)
    if limit is not None and n_instruments > limit:
        raise ConfigError(
            "strategy",
            f"the {strategy} strategy is limited to {limit} instruments (its cost grows steeply with size) and this "
            f"universe has {n_instruments}; use max_sharpe (the same tangency portfolio) or narrow the universe",
        )
