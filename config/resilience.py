"""Requests while a backing service is unreachable: 503 with a clear sentence, never a 500.

When the database (or Redis, the cache and throttling store) cannot be reached, a request
fails with ``503 Service Unavailable`` and ``Retry-After``: JSON in the API's one error
format under ``/api/`` (``{"code": "unavailable", "message": …, "errors": []}``), a plain
page elsewhere. Nothing is half-written: the request's transaction (if it got as far as
one) rolls back with the failed connection. The next request opens a fresh connection, so
the service resumes by itself when the database is back.

An error raised by the view reaches ``process_exception``; one raised elsewhere in the
middleware chain (loading the session, say) has already become a 500 by the time it
reaches us, so ``got_request_exception`` marks the request and ``__call__`` swaps that 500
for the 503.
"""

from __future__ import annotations

import sys

import structlog
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

log = structlog.get_logger("desk.resilience")

RETRY_AFTER_S = 5
_MARK = "_desk_unavailable"


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(errors)


UNAVAILABLE = _unavailable_errors()


def _what(exc: BaseException) -> str:
    return "cache" if type(exc).__module__.startswith("redis") else "database"


def unavailable_response(request, exc: BaseException) -> HttpResponse:
    what = _what(exc)
    message = f"The desk's {what} is unreachable at the moment; nothing was saved. Try again in a few seconds."
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": "unavailable", "message": message, "errors": []}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Service unavailable</title>"
            f"<h1>Service unavailable</h1><p>{message}</p><p>The page will work again once it is back.</p></html>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


def _mark(sender, request=None, **kwargs) -> None:
    exc = sys.exc_info()[1]
    if request is not None and isinstance(exc, UNAVAILABLE):
        setattr(request, _MARK, exc)


got_request_exception.connect(_mark, dispatch_uid="desk.resilience.mark")


class ServiceUnavailableMiddleware:
    """Maps an unreachable database or Redis to 503 (see the module docstring). Put it first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        except UNAVAILABLE as exc:  # raised past every inner layer (rare: they convert to responses)
            return self._unavailable(request, exc)
        exc = getattr(request, _MARK, None)
        if exc is not None and response.status_code >= 500:
            return self._unavailable(request, exc)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE):
            return self._unavailable(request, exception)
        return None

    @staticmethod
    def _unavailable(request, exc: BaseException) -> HttpResponse:
        log.warning("request.unavailable", path=request.path, backend=_what(exc), error=str(exc).strip()[:200])
        return unavailable_response(request, exc)
