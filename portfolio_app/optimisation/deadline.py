"""A deadline for one optimisation, and the portfolio's fallback strategy past it.

``DeadlineOptimiser`` wraps the portfolio's optimiser: the strategy runs in a worker
thread, and when it has not answered within ``deadline_seconds`` the fallback strategy
runs instead (same estimators, same constraints) and ``fallback`` records which
strategy ran instead of which, and why. A strategy that *fails* (an
``OptimisationError``) still fails: slow and failed are told apart.

A Python thread cannot be stopped: past the deadline the abandoned solver keeps its
thread until it returns, its answer discarded. What bounds that waste is that every
strategy is fast at the desk's sizes or refused above a size limit where it is
configured (``limits.SIZE_LIMITS``), so the deadline guards against the unexpected
(a pathological problem, a starved machine), not against a known-slow strategy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from desk.interfaces import Optimiser, TargetWeights, View

from .errors import OptimisationError

T = TypeVar("T")
DEFAULT_DEADLINE_SECONDS = 10.0
DEFAULT_FALLBACK = "min_volatility"


class DeadlineExceeded(Exception):
    pass


def run_with_deadline(fn: Callable[[], T], seconds: float, *, name: str = "optimisation") -> T:
    """``fn()``'s result, or ``DeadlineExceeded`` once ``seconds`` have passed without one.

    Exceptions raised by ``fn`` are raised here. ``fn`` runs in a daemon thread, so an
    abandoned one never keeps the process from exiting.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"{name}-deadline", daemon=True)
    worker.start()
    worker.join(max(float(seconds), 0.0))
    if worker.is_alive():
        raise DeadlineExceeded(name)
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class DeadlineOptimiser(Optimiser):
    """``primary`` within ``deadline_seconds``, else ``fallback`` (``None``: fail instead).

    Built per proposal (it remembers what happened in ``fallback``), never shared.
    """

    primary: Any  # PortfolioOptimiser
    fallback_optimiser: Any | None
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    fallback: dict[str, Any] | None = None

    @property
    def strategy_used(self) -> str:
        return self.fallback["strategy"] if self.fallback else self.primary.strategy

    @property
    def optimiser_used(self) -> Any:
        return self.fallback_optimiser if self.fallback else self.primary

    def optimise(
        self,
        *,
        prices: Any,
        views: Mapping[str, View],
        current_weights: Mapping[str, float],
        constraints: Mapping[str, Any],
    ) -> TargetWeights:
        kwargs = {"prices": prices, "views": views, "current_weights": current_weights, "constraints": constraints}
        try:
            return run_with_deadline(lambda: self.primary.optimise(**kwargs), self.deadline_seconds,
                                     name=self.primary.strategy)
        except DeadlineExceeded:
            pass
        what = self.primary.strategy.replace("_", " ")
        if self.fallback_optimiser is None or self.fallback_optimiser.strategy == self.primary.strategy:
            raise OptimisationError(
                "deadline",
                f"The {what} strategy did not finish within its deadline of {self.deadline_seconds:g} s and the "
                "portfolio has no other fallback strategy; choose a faster strategy or a smaller universe.",
            )
        why = (f"The {what} strategy did not finish within its deadline of {self.deadline_seconds:g} s, so the "
               f"fallback strategy ({self.fallback_optimiser.strategy.replace('_', ' ')}) was used.")
        self.fallback = {
            "strategy": self.fallback_optimiser.strategy,
            "instead_of": self.primary.strategy,
            "deadline_seconds": self.deadline_seconds,
            "why": why,
        }
        target = self.fallback_optimiser.optimise(**kwargs)
        return replace(target, notes=(*target.notes, why))


def fallback_for(primary: Any, fallback_strategy: str | None) -> Any | None:
    """The fallback optimiser: ``primary``'s estimators and constraints with another strategy."""
    if not fallback_strategy or fallback_strategy == primary.strategy:
        return None
    return replace(primary, strategy=fallback_strategy)
