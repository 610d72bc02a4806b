"""Execution app tasks: thin, idempotent, take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from execution_app import services


@shared_task(ignore_result=True, acks_late=True)
def heartbeat_publish() -> None:
    services.heartbeat_publish()


# --- Agents (issue 4): queue "agents" by CELERY_TASK_ROUTES ("execution_app.tasks.agent_*").


@shared_task(ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=240)
def agent_run(agent_id: int, as_of: str | None = None, force: bool = False) -> None:
    """Run one computed agent; safe to run twice (its signals are stored once per day)."""
    from datetime import datetime

    from execution_app import signal_services

    signal_services.agent_run(agent_id=agent_id, as_of=datetime.fromisoformat(as_of) if as_of else None, force=force)


@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50)
def agent_run_due() -> None:
    """Beat, every 30 s: enqueue the agents due on the market clock's date."""
    from execution_app import signal_services

    signal_services.agent_run_due()


from execution_app import scenario_tasks  # noqa: E402,F401  (scenario tasks register with Celery)


@shared_task(ignore_result=True, acks_late=True, expires=5)
def price_ticks_publish() -> None:
    from execution_app.market_service import price_ticks_publish as publish

    publish()


@shared_task(ignore_result=True, acks_late=True)
def nav_snapshots_take() -> None:
    from execution_app.market_service import nav_snapshots_take as take

    take()
