"""Portfolio tasks (beat jobs): thin, idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100)
def proposals_expire() -> None:
    """Beat: pending proposals past their time → EXPIRED, beyond the price band → STALE."""
    from portfolio_app import services

    services.proposals_expire()


@shared_task(ignore_result=True, acks_late=True)
def nav_snapshots_take() -> None:
    """Beat: a NAV snapshot per portfolio at the last closed session."""
    from portfolio_app import services

    services.nav_snapshots_take()
