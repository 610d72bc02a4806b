"""Agent tasks (queue ``agents`` by ``CELERY_TASK_ROUTES``): thin, idempotent, take ids."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=240)
def agent_run(agent_id: int, as_of: str | None = None, force: bool = False) -> None:
    """Run one computed agent; safe to run twice (its signals are stored once per day)."""
    from datetime import datetime

    from signals_app import services

    services.agent_run(agent_id=agent_id, as_of=datetime.fromisoformat(as_of) if as_of else None, force=force)


@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50)
def agent_run_due() -> None:
    """Beat, every 30 s: enqueue the agents due on the market clock's date."""
    from signals_app import services

    services.agent_run_due()
