"""The one exception the optimisation core raises for a portfolio it cannot build."""

from __future__ import annotations

from desk.errors import DomainError


class OptimisationError(DomainError):
    """An optimisation that has no acceptable answer, with a sentence a trader understands.

    ``code`` is a stable machine word for the kind of failure (the proposal stores it
    and tests match on it); ``str(error)`` is the sentence shown on the proposal page.

    Codes: ``too_few_prices``, ``no_instruments``, ``bad_prices``, ``singular_covariance``,
    ``no_excess_return``, ``infeasible``, ``target_unreachable``, ``constraint_breached``,
    ``solver_failed``.
    """

    status = 422

    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)
        self.code = code
        self.message = message
