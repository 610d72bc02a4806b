"""Routing tasks (queue ``routing`` by ``CELERY_TASK_ROUTES``; ``control_*`` on the control queue): thin, take ids,
call one service.

All are ``acks_late`` and safe to run twice: ``order_route`` does nothing to a parent
already routed; ``child_execute`` carries the child's ``work_seq`` and exits when it is
superseded; fills are recorded once per ``trade_id``. Database and broker hiccups are
retried with exponential backoff.
"""

from __future__ import annotations

from celery import shared_task, signals
from django.db import DatabaseError, OperationalError

RETRY = {
    "autoretry_for": (OperationalError, DatabaseError, ConnectionError),
    "retry_backoff": 0.5,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100, **RETRY)
def order_route(parent_id: int) -> None:
    """Slice a SUBMITTED parent into child orders and route them; work the slices due now in
    this task (an IMMEDIATE order: one task from SUBMITTED to FILLED), enqueue the others."""
    from orders_app.working import order_route as route

    route(parent_id=parent_id, work_due_inline=True)


@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50, **RETRY)
def child_execute(child_id: int, seq: int | None = None) -> str:
    """One step of one child order: send when due, apply fills, settle or schedule the next step."""
    from orders_app.working import child_work

    return child_work(child_id=child_id, seq=seq)


@shared_task(ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100, **RETRY)
def control_orders_cancel(portfolio_id: int, actor_id: int | None = None, reason: str = "cancel all") -> int:
    """Queue ``control`` (``CELERY_TASK_ROUTES``): cancel every open order of a portfolio at its venues (the kill
    switch's cancels). Safe to run twice: a second run finds nothing open."""
    from django.contrib.auth import get_user_model

    from orders_app.submission import orders_cancel_all

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return orders_cancel_all(portfolio_id=portfolio_id, actor=actor, reason=reason)


@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50, expires=12)
def order_sweep() -> dict:
    """Beat, every 15 s: re-enqueue overdue children and parents whose routing was lost."""
    from orders_app.working import orders_sweep

    return orders_sweep()


@shared_task(ignore_result=False, acks_late=True, time_limit=10, soft_time_limit=8)
def orders_ping() -> int:
    """A no-op on the routing queue: the reference round trip of the order benchmarks, and a
    liveness probe of the routing workers."""
    return 1


from orders_app import profiling  # noqa: E402  (opt-in cProfile of worker tasks, DESK_TASK_PROFILE_DIR)

profiling.install()


@signals.worker_init.connect(weak=False)
def _warm(**_) -> None:
    """Build the exchange calendar's session table in the worker's main process, before the
    pool forks: otherwise every pool process pays ~2 s for it on its first order."""
    try:
        from desk.clock import session_table

        session_table()
    except Exception:  # noqa: BLE001 - a cold start is slower, not wrong
        pass


@signals.worker_process_init.connect(weak=False)
def _push_in_background(**_) -> None:
    """A pool process applies order changes back to back: its pushes to the browsers go from a thread of their
    own, in commit order, so a task's commit does not wait for Redis (``desk.events.push_in_background``)."""
    from desk.events import push_in_background

    push_in_background()
