"""Alerts: raised once per key while active, updated when they change, resolved when they clear.

Every change is pushed (``alert.raised`` / ``alert.updated`` / ``alert.resolved``)
after commit to the desk group (the frame's badge) and, for a portfolio's
alert, to that portfolio's group.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.utils import timezone

from desk import ports
from desk import metrics
from desk import groups
from desk.events import event_publish
from risk_app.models import Alert

from .common import RiskNotFound


def alert_payload(a: Alert) -> dict:
    return {
        "id": a.pk, "kind": a.kind, "severity": a.severity, "key": a.key, "message": a.message,
        "portfolio_id": a.portfolio_id, "limit_id": a.limit_id, "value": a.value, "status": a.status,
        "count": a.count, "raised_at": a.raised_at, "updated_at": a.updated_at, "resolved_at": a.resolved_at,
        "acknowledged_by": a.acknowledged_by.username if a.acknowledged_by_id and a.acknowledged_by else None,
    }


def _publish(event_type: str, a: Alert) -> None:
    targets = [groups.DESK] + ([groups.portfolio(a.portfolio_id)] if a.portfolio_id else [])
    payload = alert_payload(a)
    # The frame's badge takes the count from the event; webhooks get raised/resolved only.
    payload["active_count"] = Alert.objects.filter(status=Alert.Status.ACTIVE).count()
    transaction.on_commit(lambda n=payload["active_count"]: metrics.alerts_active.set(n))
    if event_type in ("alert.raised", "alert.resolved"):
        ports.alert_notifier().notify(alert=a, state=event_type.split(".")[1], payload=payload)
    event_publish(event_type=event_type, payload=payload, groups=targets)


@transaction.atomic
def alert_raise(
    *,
    kind: str,
    key: str,
    message: str,
    severity: str = Alert.Severity.WARNING,
    portfolio_id: int | None = None,
    limit_id: int | None = None,
    value: float | None = None,
    repeat: bool = False,
) -> tuple[Alert, bool]:
    """``(alert, raised)``: a new alert, or the active one with this key updated.

    An unchanged condition seen again changes nothing unless ``repeat`` (each
    occurrence counts, e.g. every order that trips a warn-level limit).
    Locks the active row, so two workers raising one key make one alert.
    """
    for _ in range(2):
        current = Alert.objects.select_for_update().filter(key=key, status=Alert.Status.ACTIVE).first()
        if current is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        kind=kind, key=key, message=message, severity=severity, portfolio_id=portfolio_id,
                        limit_id=limit_id, value=value,
                    )
            except IntegrityError:  # a concurrent raise won; update theirs
                continue
            _publish("alert.raised", alert)
            return alert, True
        changed = (current.message, current.severity) != (message, severity)
        if not changed and not repeat:
            return current, False
        current.message, current.severity, current.value = message, severity, value
        current.count += 1
        current.save(update_fields=["message", "severity", "value", "count", "updated_at"])
        _publish("alert.updated", current)
        return current, False
    raise IntegrityError(f"alert {key!r} could not be raised")  # pragma: no cover - two lost races in a row


@transaction.atomic
def alert_resolve(*, key: str) -> Alert | None:
    alert = Alert.objects.select_for_update().filter(key=key, status=Alert.Status.ACTIVE).first()
    if alert is None:
        return None
    alert.status, alert.resolved_at = Alert.Status.RESOLVED, timezone.now()
    alert.save(update_fields=["status", "resolved_at", "updated_at"])
    _publish("alert.resolved", alert)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert_id: int, actor) -> Alert:
    """A desk user has seen it: who and when; the alert stays active until its condition clears."""
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise RiskNotFound(f"No alert {alert_id}.")
    if alert.acknowledged_by_id is None:
        alert.acknowledged_by, alert.acknowledged_at = actor, timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at", "updated_at"])
        _publish("alert.updated", alert)
    return alert


def alerts_sync(*, prefix: str, active: Mapping[str, dict]) -> dict[str, int]:
    """Make the active alerts under ``prefix`` exactly ``active`` (key -> alert_raise kwargs)."""
    raised = updated = resolved = 0
    for key, spec in active.items():
        alert, new = alert_raise(key=key, **spec)
        raised += new
        updated += (not new) and alert.updated_at is not None and alert.count > 1
    stale = Alert.objects.filter(status=Alert.Status.ACTIVE, key__startswith=prefix).exclude(key__in=list(active))
    for key in list(stale.values_list("key", flat=True)):
        resolved += alert_resolve(key=key) is not None
    return {"raised": raised, "updated": updated, "resolved": resolved}
