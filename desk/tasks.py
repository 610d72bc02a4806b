"""Enqueueing Celery tasks by name, so a service never imports its app's ``tasks`` module.

``tasks`` imports the services it calls; if services imported ``tasks`` back, every app
would hold an import circle. Celery routes a task sent by name exactly as one sent from
its function (``CELERY_TASK_ROUTES`` match on the name), and a name that no worker knows
is caught by ``tests/test_architecture.py``, which checks every name enqueued here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celery import current_app
from django.db import transaction

# The Celery message header that carries when the message was published (epoch seconds, set by a
# ``before_task_publish`` handler in every process): kombu's Redis messages carry no publish time,
# and the oldest waiting task's age per queue is read from it (ops_app.resources).
ENQUEUED_AT_HEADER = "desk_enqueued_at"


def enqueue(name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any):
    """Send task ``name`` now (``options``: ``eta``, ``countdown``, ``retry_policy``, ``retry``…)."""
    return current_app.send_task(name, args=tuple(args), kwargs=dict(kwargs or {}), **options)


def enqueue_on_commit(name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                      robust: bool = False, **options: Any) -> None:
    """Send task ``name`` once the surrounding transaction commits (STYLE.md rule 7); never if it rolls back."""
    transaction.on_commit(lambda: enqueue(name, args, kwargs, **options), robust=robust)
