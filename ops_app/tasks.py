"""Operations tasks: the heartbeat, the desk's alert rules and their webhook deliveries, scheduled backups."""

from __future__ import annotations

from celery import shared_task

from ops_app import services


@shared_task(ignore_result=True, acks_late=True)
def heartbeat_publish() -> None:
    services.heartbeat_publish()


@shared_task(acks_late=True, time_limit=30, soft_time_limit=25, ignore_result=True)
def alert_rules_evaluate() -> dict:
    """Beat, every DESK_ALERT_EVAL_SECONDS (queue default): evaluate every enabled rule once."""
    from ops_app.alert_rules.rules import alert_rules_tick

    return alert_rules_tick()


@shared_task(bind=True, acks_late=True, time_limit=60, soft_time_limit=50, ignore_result=True, max_retries=None)
def alert_webhook_deliver(self, delivery_id: int) -> str:
    """One webhook delivery attempt; on failure retried with exponential backoff (the row says when)."""
    from ops_app.alert_rules.webhooks import alert_delivery_send, backoff_seconds
    from ops_app.models import AlertDelivery

    outcome = alert_delivery_send(delivery_id=delivery_id)
    if outcome == "retry":
        attempts = AlertDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
        raise self.retry(countdown=backoff_seconds(attempts))
    return outcome


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500, ignore_result=True)
def backup_scheduled() -> str:
    """Beat, every DESK_BACKUP_EVERY_MINUTES (queue default): one backup and retention; safe to run twice."""
    from ops_app.backup import backup_scheduled_run

    return backup_scheduled_run()


@shared_task(ignore_result=True, acks_late=True, time_limit=600, soft_time_limit=540)
def eod_reports_close() -> int:
    """Beat, every DESK_EOD_CHECK_SECONDS (queue default): the last closed session's end-of-day reports,
    once per scope (a redelivery writes nothing), then the retention."""
    from ops_app.eod.services import eod_reports_close as run

    return run()


@shared_task(acks_late=True, time_limit=600, soft_time_limit=570, ignore_result=True)
def rollout_shadow_compute(rollout_id: int) -> int:
    """A rollout in shadow: run its candidate for each of its portfolios and record the result (never traded)."""
    from ops_app.rollout.stages import rollout_shadow_compute as compute

    return len(compute(rollout_id=rollout_id))
