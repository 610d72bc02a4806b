"""Structured logs (structlog) with a correlation id carried from the HTTP request or
signal into the Celery tasks it causes and into the log lines of the orders they place.

- ``CorrelationIdMiddleware`` takes ``X-Request-ID`` (or makes one), binds it for the
  request's log lines and returns it in the response.
- Celery: ``before_task_publish`` copies the current id into the message headers;
  ``task_prerun`` binds it in the worker, so the task's log lines carry it.
- Celery: ``before_task_publish`` also stamps when the message was published
  (``desk.tasks.ENQUEUED_AT_HEADER``), so a queue's oldest waiting task has an age.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from celery import signals as celery_signals

HEADER = "HTTP_X_REQUEST_ID"
TASK_HEADER = "desk_correlation_id"  # the Celery message header that carries it
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def configure_structlog(*, json_logs: bool) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def logging_config(*, level: str, json_logs: bool) -> dict:
    renderer = "structlog.processors.JSONRenderer" if json_logs else "structlog.dev.ConsoleRenderer"
    pre_chain = [
        "structlog.contextvars.merge_contextvars",
        "structlog.stdlib.add_log_level",
        "structlog.stdlib.add_logger_name",
    ]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": "structlog.stdlib.ProcessorFormatter",
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    _import(renderer)(**({} if json_logs else {"colors": False})),
                ],
                "foreign_pre_chain": [_import(p) for p in pre_chain],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.channels.server": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
            "celery.app.trace": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
        },
    }


def _import(path: str):
    module, _, name = path.rpartition(".")
    obj = __import__(module, fromlist=[name])
    return getattr(obj, name)


def current_correlation_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("correlation_id")


def bind_correlation_id(value: str | None = None) -> str:
    cid = value if value and _VALID.match(value) else uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(correlation_id=cid)
    return cid


class CorrelationIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.log = structlog.get_logger("desk.request")

    def __call__(self, request):
        structlog.contextvars.clear_contextvars()
        cid = bind_correlation_id(request.META.get(HEADER))
        request.correlation_id = cid
        t0 = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = cid
        if request.path not in ("/healthz", "/readyz", "/metrics"):
            self.log.info(
                "request", method=request.method, path=request.path, status=response.status_code,
                ms=round((time.perf_counter() - t0) * 1000, 2),
                user=getattr(getattr(request, "user", None), "username", None) or None,
            )
        return response


# --- Celery: carry the id across the broker, time the tasks -------------------------------

_started: dict[str, float] = {}


@celery_signals.before_task_publish.connect
def _add_correlation_header(headers=None, **kwargs):
    cid = current_correlation_id()
    # Not "correlation_id": the worker overwrites that name with the AMQP property (= the task id).
    if cid and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = cid


@celery_signals.before_task_publish.connect
def _add_enqueued_at_header(headers=None, **kwargs):
    from desk.tasks import ENQUEUED_AT_HEADER

    # A retry republishes with the old headers: it waits from its new publish, so the stamp is renewed.
    if headers is not None:
        headers[ENQUEUED_AT_HEADER] = round(time.time(), 3)


@celery_signals.task_prerun.connect
def _bind_task_context(task_id=None, task=None, **kwargs):
    structlog.contextvars.clear_contextvars()
    cid = getattr(task.request, TASK_HEADER, None) if task else None
    bind_correlation_id(cid or task_id)
    structlog.contextvars.bind_contextvars(task=getattr(task, "name", None), task_id=task_id)
    _started[task_id] = time.perf_counter()


@celery_signals.task_postrun.connect
def _time_task(task_id=None, task=None, **kwargs):
    from desk import metrics

    t0 = _started.pop(task_id, None)
    if t0 is not None and task is not None:
        queue = (task.request.delivery_info or {}).get("routing_key") or "default"
        metrics.task_latency.labels(queue, task.name).observe(time.perf_counter() - t0)
    structlog.contextvars.clear_contextvars()


@celery_signals.task_failure.connect
def _count_failure(sender=None, task_id=None, **kwargs):
    from desk import metrics

    queue = (getattr(sender.request, "delivery_info", None) or {}).get("routing_key") or "default"
    metrics.task_failures.labels(queue, getattr(sender, "name", "unknown")).inc()
    _started.pop(task_id, None)


logging.getLogger(__name__).debug("observability hooks installed")
