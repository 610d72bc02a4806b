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
    """Beat, every DESK_BACKUP_EVERY_MINUTES (queue default): one backup and retention.

    Safe to run twice: one backup at a time desk-wide (a Redis lock), and a message delivered
    again soon after a good backup (a redelivery, two beats) finds it recent and does nothing.
    """
    import time

    from desk.redis import get_redis
    from ops_app.backup import BackupError, backup_age, backup_run

    age = backup_age()
    if age["age_s"] is not None and age["age_s"] < age["interval_s"] / 2:
        return "skipped: a backup was made %.0f s ago" % age["age_s"]
    lock, token = "ops:backup:lock", str(time.time())
    if not get_redis().set(lock, token, nx=True, ex=3600):
        return "skipped: another backup is running"
    try:
        backup_run(trigger="schedule")
        return "ok"
    except BackupError:
        return "failed"  # recorded with its reason; the backup_stale rule says when it matters
    finally:
        if get_redis().get(lock) == token.encode():
            get_redis().delete(lock)
