"""Webhook delivery of alert state changes: exactly one delivery per (alert, raised|resolved).

- ``alert_delivery_schedule`` runs inside the transaction that raises or resolves the
  alert: it creates one ``AlertDelivery`` (unique ``idempotency_key`` =
  ``alert-<id>-<state>``) and enqueues the send after commit.
- ``alert_delivery_send`` claims the row with a conditional UPDATE (never holding a
  lock during the HTTP call), POSTs the JSON with the ``Idempotency-Key`` header, and
  marks it delivered on a 2xx.  A failure leaves it pending with ``claimed_until`` at
  the next attempt's time; the task retries with exponential backoff.
- ``deliveries_sweep`` (called by the rule evaluation) re-enqueues a delivery whose
  message was lost (broker down at commit, worker killed mid-send).

Only a 2xx ends a delivery, so a receiver that stored it but answered 500 sees the
same key again: receivers should de-duplicate on ``Idempotency-Key``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from desk.lifecycle import update_where_allowed
from desk.statemachine import TransitionTable
from desk.tasks import enqueue
from desk.ports import AlertNotifier
from risk_app.models import Alert
from ops_app.models import AlertDelivery, AlertRule


# A delivery's lifecycle: claimed by one worker (SENDING) until it is delivered, given up, or put back
# to wait for its retry; a claim whose worker died expires (claimed_until) and can be taken again.
CLAIM, DELIVER, RETRY, GIVE_UP = "CLAIM", "DELIVER", "RETRY", "GIVE_UP"
DELIVERY_TABLE = TransitionTable(
    "AlertDelivery",
    {
        "pending": {CLAIM: "sending"},
        "sending": {CLAIM: "sending", DELIVER: "delivered", RETRY: "pending", GIVE_UP: "failed"},
    },
    terminal=frozenset({"delivered", "failed"}),
)
log = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


def webhook_url_for(alert: Alert) -> str:
    """The alert's rule's URL when it came from a rule that has one, else the desk-wide one (may be empty)."""
    if alert.key.startswith("rule:"):
        rule_id = alert.key.split(":", 2)[1]
        if rule_id.isdigit():
            url = AlertRule.objects.filter(pk=int(rule_id)).values_list("webhook_url", flat=True).first()
            if url:
                return url
    return _setting("DESK_ALERT_WEBHOOK_URL", "")


def alert_delivery_schedule(*, alert: Alert, state: str, payload: dict) -> AlertDelivery | None:
    """One delivery row for this state change (none when no URL is configured); the send after commit."""
    url = webhook_url_for(alert)
    if not url:
        return None
    from desk.events import jsonable

    key = f"alert-{alert.pk}-{state}"
    body = {"idempotency_key": key, "event": f"alert.{state}", "alert": jsonable(payload)}
    delivery, created = AlertDelivery.objects.get_or_create(
        idempotency_key=key, defaults={"alert": alert, "state": state, "url": url, "payload": body}
    )
    if created:
        transaction.on_commit(lambda: delivery_enqueue(delivery.pk))
    return delivery


def delivery_enqueue(delivery_id: int, countdown: float = 0) -> bool:
    """Enqueue the send; False when the broker is unreachable (the sweep tries again later)."""
    try:
        enqueue("ops_app.tasks.alert_webhook_deliver", (delivery_id,), countdown=countdown, retry=False)
        return True
    except Exception:
        log.warning("alert webhook not enqueued; the sweep will retry", extra={"delivery_id": delivery_id})
        return False


def backoff_seconds(attempts: int) -> float:
    base = float(_setting("DESK_ALERT_WEBHOOK_BACKOFF_SECONDS", 2.0))
    return min(300.0, base * 2 ** max(0, attempts - 1))


def alert_delivery_send(*, delivery_id: int) -> str:
    """One attempt: ``delivered``, ``retry`` (failed, try again after backoff), ``failed`` (gave up),
    or ``skipped`` (already delivered, or claimed by another worker right now)."""
    now = timezone.now()
    timeout = float(_setting("DESK_ALERT_WEBHOOK_TIMEOUT_SECONDS", 5.0))
    claimed = update_where_allowed(
        AlertDelivery.objects.filter(pk=delivery_id).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)),
        DELIVERY_TABLE, CLAIM, claimed_until=now + timedelta(seconds=timeout + 30), attempts=F("attempts") + 1,
    )
    if not claimed:
        return "skipped"
    d = AlertDelivery.objects.get(pk=delivery_id)
    error = _post(d.url, d.payload, key=d.idempotency_key, timeout=timeout)
    if error is None:
        update_where_allowed(AlertDelivery.objects.filter(pk=d.pk), DELIVERY_TABLE, DELIVER,
                             delivered_at=timezone.now(), claimed_until=None, last_error="")
        log.info("alert webhook delivered", extra={"delivery": d.idempotency_key, "attempts": d.attempts})
        return "delivered"
    if d.attempts >= int(_setting("DESK_ALERT_WEBHOOK_MAX_ATTEMPTS", 8)):
        update_where_allowed(AlertDelivery.objects.filter(pk=d.pk), DELIVERY_TABLE, GIVE_UP, claimed_until=None, last_error=error)
        log.error("alert webhook given up", extra={"delivery": d.idempotency_key, "attempts": d.attempts, "error": error})
        return "failed"
    due = timezone.now() + timedelta(seconds=backoff_seconds(d.attempts))
    update_where_allowed(AlertDelivery.objects.filter(pk=d.pk), DELIVERY_TABLE, RETRY, claimed_until=due, last_error=error)
    log.warning("alert webhook failed; will retry", extra={"delivery": d.idempotency_key, "attempts": d.attempts, "error": error})
    return "retry"


def _post(url: str, body: dict, *, key: str, timeout: float) -> str | None:
    """None on a 2xx, else what went wrong."""
    if not url.lower().startswith(("http://", "https://")):  # urlopen would also read file:// and ftp://
        return f"refused: {url.split(':', 1)[0]!r} is not an http(s) URL"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "execution-desk-alerts/1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310 - scheme checked above
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except Exception as exc:  # connection refused, timeout, DNS: all retried
        return f"{type(exc).__name__}: {exc}"


def deliveries_sweep(*, older_than_s: float = 30.0) -> int:
    """Re-enqueue deliveries whose retry is overdue by ``older_than_s`` (their message was lost)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stuck = AlertDelivery.objects.filter(status__in=DELIVERY_TABLE.open, created_at__lt=cutoff).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=cutoff))
    return sum(delivery_enqueue(pk) for pk in stuck.values_list("pk", flat=True)[:100])


class WebhookAlertNotifier(AlertNotifier):
    """The ``desk.ports.AlertNotifier`` the risk app's alerts reach (wired in settings.DESK_PORTS)."""

    def notify(self, *, alert, state, payload):
        alert_delivery_schedule(alert=alert, state=state, payload=payload)
