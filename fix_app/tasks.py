"""FIX tasks (beat): thin, one service each."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError, OperationalError


@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50, expires=120,
             autoretry_for=(OperationalError, DatabaseError), retry_backoff=1, max_retries=3)
def fix_reconcile_scheduled() -> list[str]:
    """Beat, every ``DESK_FIX_RECONCILE_MINUTES``: ask the gateway to reconcile every logged-on FIX venue.
    Safe to run twice: a venue being reconciled is skipped."""
    from fix_app.recon_services import reconciliations_schedule

    return reconciliations_schedule()
