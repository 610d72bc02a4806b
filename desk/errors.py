"""The one base of every domain error the desk raises, and its shape on the API.

A service raises a ``DomainError`` subclass; the API's exception handler
(``desk.api_errors.desk_exception_handler``) turns any of them into the desk's error
body (``code``, ``message``, ``errors`` per field) with the error's HTTP status, so
edges only authenticate and map nothing by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DomainError(Exception):
    """``code`` (machine-readable), ``message`` (a sentence), ``field_errors`` ({field: reason}), ``status`` (HTTP)."""

    code = "invalid"
    status = 400

    def __init__(self, message: str = "", *, code: str | None = None, field_errors: Mapping[str, str] | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.message = message or self.__class__.__doc__ or self.code
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field_errors = dict(field_errors or {})

    def __str__(self) -> str:
        return self.message

    def error_list(self) -> list[dict]:
        """The body's ``errors`` list: one entry per bad field."""
        return [{"field": f, "reason": r, "code": self.code} for f, r in self.field_errors.items()]

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "errors": self.error_list()}


class Invalid(DomainError):
    """The input is invalid."""

    code, status = "invalid", 400


class Forbidden(DomainError):
    """Your role or ownership does not allow this."""

    code, status = "permission_denied", 403


class NotFound(DomainError):
    """No such object (or not visible to you)."""

    code, status = "not_found", 404


class Conflict(DomainError):
    """The object's state does not allow this now."""

    code, status = "conflict", 409


def field_errors_of(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {f: r for f, r in pairs}
