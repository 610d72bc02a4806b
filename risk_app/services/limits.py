"""Limits: create, change and delete them, with four eyes on every loosening.

Tightening (and creating a limit) applies at once.  Loosening - a higher
threshold, a shorter duplicate window, disabling, block -> warn, a symbol off
the restricted list, a changed scope or kind, deleting - creates a
``PendingLimitChange`` that a *different* risk officer approves before it
takes effect (``risk_app.checks.is_loosening`` decides).  A reason is required
on every change.  Each applied change leaves a history row (django-simple-history)
with who, when, the values after it, why, and who approved; every change bumps
the limits' version token in the same transaction, so every worker's engine
sees it at the next check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from desk import groups
from desk.events import event_publish
from desk.interfaces import ConfigError
from desk.lifecycle import apply_transition
from risk_app import checks as K
from risk_app.desk_book import desk_books_sync
from risk_app.models import PendingLimitChange, RiskLimit, RiskLimitsVersion

from desk import foureyes

from .common import LIMIT_CHANGES, RiskError, RiskInvalid, RiskNotFound, four_eyes_decide, four_eyes_lock, require_reason, require_risk_manager
from .pretrade import limit_of

FIELDS = ("name", "scope", "scope_key", "kind", "threshold", "action", "enabled", "note", "params")


@dataclass(frozen=True)
class LimitChangeResult:
    """``applied``: the change took effect now; otherwise ``pending`` waits for a second officer."""

    limit: RiskLimit | None
    applied: bool
    pending: PendingLimitChange | None = None


def limits_version_bump() -> None:
    """Inside the change's transaction: the new token is visible exactly when the change is.

    The desk books that desk-wide limits are measured on are built (or dropped) in the same
    transaction, so a new desk-wide limit never meets a missing book (``risk_app.desk_book``).
    """
    token = uuid.uuid4().hex
    if not RiskLimitsVersion.objects.filter(pk=1).update(token=token, version=F("version") + 1, changed_at=timezone.now()):
        RiskLimitsVersion.objects.update_or_create(pk=1, defaults={"token": token, "version": 1})
    desk_books_sync()


def limit_fields(row: RiskLimit) -> dict[str, Any]:
    """The editable fields as JSON (threshold as a string: never a float)."""
    return {
        "name": row.name, "scope": row.scope, "scope_key": row.scope_key, "kind": row.kind,
        "threshold": format(Decimal(row.threshold).normalize(), "f"), "action": row.action, "enabled": row.enabled, "note": row.note,
        "params": row.params or {},
    }


def _scope_key_exists(scope: str, key: str) -> bool:
    from django.apps import apps

    if scope == K.SCOPE_PORTFOLIO:
        from portfolio_app.models import Portfolio

        return key.isascii() and key.isdigit() and Portfolio.objects.filter(pk=int(key)).exists()  # "²".isdigit() too
    if scope == K.SCOPE_INSTRUMENT:
        from market_app.models import Instrument

        return Instrument.objects.filter(symbol=key).exists()
    if scope == K.SCOPE_AGENT:
        try:
            agent = apps.get_model("execution_app", "Agent")
        except LookupError:
            return key.isdigit()
        return key.isascii() and key.isdigit() and agent.objects.filter(pk=int(key)).exists()
    return True


def _unknown_portfolios(ids) -> list[int]:
    from portfolio_app.models import Portfolio

    return sorted(set(ids) - set(Portfolio.objects.filter(pk__in=ids).values_list("pk", flat=True)))


def limit_validate(values: dict[str, Any]) -> dict[str, Any]:
    """Cleaned field values, or ``RiskInvalid`` naming each bad field."""
    errors: dict[str, str] = {}
    v = dict(values)
    v["name"] = str(v.get("name") or "").strip()
    if not v["name"]:
        errors["name"] = "A name is required."
    v["scope"] = v.get("scope") or K.SCOPE_DESK
    v["scope_key"] = "" if v["scope"] == K.SCOPE_DESK else str(v.get("scope_key") or "").strip()
    v["action"] = v.get("action") or K.BLOCK
    v["enabled"] = bool(v.get("enabled", True))
    v["note"] = str(v.get("note") or "")
    v["params"] = v.get("params") or {}
    if not isinstance(v["params"], dict):
        errors["params"] = "Must be an object."
        v["params"] = {}
    raw = v.get("threshold", "0" if v.get("kind") == K.RESTRICTED_INSTRUMENTS else None)
    try:
        v["threshold"] = Decimal(str(raw)).quantize(Decimal("0.000001"))
        if not v["threshold"].is_finite():
            raise InvalidOperation
    except (InvalidOperation, TypeError, ValueError):
        errors["threshold"] = "Must be a number."
        v["threshold"] = Decimal(0)
    if not errors:
        try:
            K.validate_limit(limit_of(RiskLimit(pk=None, **{f: v[f] for f in FIELDS})))
        except ConfigError as exc:
            errors[exc.field] = exc.reason if hasattr(exc, "reason") else str(exc)
    if not errors and v["scope"] != K.SCOPE_DESK and not _scope_key_exists(v["scope"], v["scope_key"]):
        errors["scope_key"] = f"No {v['scope']} {v['scope_key']!r}."
    if not errors and "portfolios" in v["params"]:
        unknown = _unknown_portfolios(v["params"]["portfolios"])
        if unknown:
            errors["params.portfolios"] = f"No portfolio {', '.join(map(str, unknown))}."
    if errors:
        raise RiskInvalid(errors)
    return {f: v[f] for f in FIELDS}


def _publish(row_id: int | None, name: str, op: str, **extra) -> None:
    event_publish(event_type="limit.updated", payload={"id": row_id, "name": name, "op": op, **extra}, groups=[groups.DESK])


def _save(row: RiskLimit, values: dict, *, reason: str, requested_by, approved_by) -> RiskLimit:
    for f, value in values.items():
        setattr(row, f, value)
    row.change_reason, row.requested_by, row.approved_by = reason, requested_by, approved_by
    row._change_reason = reason
    row._history_user = requested_by
    row.save()
    limits_version_bump()
    return row


@transaction.atomic
def limit_create(*, actor, reason: str, **values) -> RiskLimit:
    """A new limit restricts more: it applies at once."""
    require_risk_manager(actor, "create limits")
    reason = require_reason(reason)
    clean = limit_validate(values)
    row = _save(RiskLimit(), clean, reason=reason, requested_by=actor, approved_by=None)
    _publish(row.pk, row.name, "created")
    return row


def _lock(limit_id: int) -> RiskLimit:
    row = RiskLimit.objects.select_for_update().filter(pk=limit_id).first()
    if row is None:
        raise RiskNotFound(f"No limit {limit_id}.")
    return row


def _pending(row: RiskLimit, op: str, before: dict, proposed: dict, *, actor, reason: str) -> PendingLimitChange:
    change = PendingLimitChange.objects.create(
        limit=row, limit_name=row.name, op=op, before=before, proposed=proposed, reason=reason, requested_by=actor,
    )
    _publish(row.pk, row.name, "pending", change_id=change.pk)
    return change


@transaction.atomic
def limit_update(*, limit_id: int, actor, reason: str, **changes) -> LimitChangeResult:
    """Tighten at once; loosen through a pending change. Locks the limit row."""
    require_risk_manager(actor, "change limits")
    reason = require_reason(reason)
    row = _lock(limit_id)
    before = limit_fields(row)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise RiskInvalid({f: "Not an editable field." for f in unknown})
    clean = limit_validate({**before, **changes})
    new = replace_row(row, clean)
    after = limit_fields(new)
    diff = {f: clean[f] for f in FIELDS if after[f] != before[f]}
    if not diff:
        raise RiskInvalid({"non_field_errors": "Nothing changed."})
    if K.is_loosening(limit_of(row), limit_of(new)):
        proposed = {f: after[f] for f in diff}
        return LimitChangeResult(row, False, _pending(row, PendingLimitChange.Op.UPDATE, before, proposed, actor=actor, reason=reason))
    _save(row, diff, reason=reason, requested_by=actor, approved_by=None)
    _publish(row.pk, row.name, "updated")
    return LimitChangeResult(row, True)


def replace_row(row: RiskLimit, values: dict) -> RiskLimit:
    """An unsaved copy of ``row`` with ``values`` (to compare old and new as ``Limit``)."""
    copy = RiskLimit(pk=row.pk, **{f: getattr(row, f) for f in FIELDS})
    for f, v in values.items():
        setattr(copy, f, v)
    return copy


@transaction.atomic
def limit_delete(*, limit_id: int, actor, reason: str) -> LimitChangeResult:
    """Deleting always loosens: a second risk officer must approve it."""
    require_risk_manager(actor, "delete limits")
    reason = require_reason(reason)
    row = _lock(limit_id)
    before = limit_fields(row)
    return LimitChangeResult(row, False, _pending(row, PendingLimitChange.Op.DELETE, before, {}, actor=actor, reason=reason))


class LimitChangeStale(RiskError):
    """The request can no longer be approved: the limit changed since, or the request is too old."""

    code, status = "stale", 409


def _stale(change: PendingLimitChange, row: RiskLimit, now) -> str | None:
    """Why a pending change may not be approved any more, or None: four eyes that cannot be outrun."""
    if limit_fields(row) != change.before:
        return "the limit changed since this request"
    ttl = timedelta(minutes=float(settings.DESK_LIMIT_CHANGE_TTL_MINUTES))
    if now - change.created_at > ttl:
        return f"the request is older than {settings.DESK_LIMIT_CHANGE_TTL_MINUTES:g} minutes"
    return None


def _expire(change: PendingLimitChange, why: str) -> None:
    """EXPIRE through the request's own lifecycle (no decider: the desk expires it); the reason says why."""
    apply_transition(change, LIMIT_CHANGES.table, foureyes.EXPIRE,
                     fields={"decided_at": timezone.now(), "decision_reason": f"stale: {why}"})
    _publish(change.limit_id, change.limit_name, "expired", change_id=change.pk)


def limit_change_approve(*, change_id: int, actor, reason: str = "") -> LimitChangeResult:
    """The second pair of eyes: a different risk officer makes the loosening take effect.

    Refused (``LimitChangeStale``) when the limit changed after the request was made, or the
    request outlived ``DESK_LIMIT_CHANGE_TTL_MINUTES``: it is then marked expired ("stale: …")
    and nothing else changes. Locks the request, then the limit.
    """
    with transaction.atomic():
        result, why = _approve_locked(change_id=change_id, actor=actor, reason=reason)
    if result is not None:
        return result
    raise LimitChangeStale(f"This change can no longer be approved: {why}. It is marked stale; ask again.")


def _approve_locked(*, change_id: int, actor, reason: str) -> tuple[LimitChangeResult | None, str]:
    change = four_eyes_lock(LIMIT_CHANGES, PendingLimitChange, change_id, missing=f"No pending change {change_id}.",
                            actor=actor, what="approve limit changes", check=foureyes.APPROVE, reason=reason)
    if change.limit_id is None:
        raise RiskInvalid({"limit": "The limit no longer exists."})
    row = _lock(change.limit_id)
    why = _stale(change, row, timezone.now())
    if why is not None:
        _expire(change, why)
        return None, why
    text = four_eyes_decide(LIMIT_CHANGES, change, foureyes.APPROVE, actor=actor, reason=reason,
                            what="approve limit changes")
    why = change.reason + (f" (approved: {text})" if text else "")
    if change.op == PendingLimitChange.Op.DELETE:
        limit_id, name = row.pk, row.name
        row.change_reason, row.requested_by, row.approved_by = why, change.requested_by, actor
        row._change_reason, row._history_user = why, change.requested_by
        row.delete()
        limits_version_bump()
        _publish(limit_id, name, "deleted", change_id=change.pk)
        return LimitChangeResult(None, True, change), ""
    values = limit_validate({**limit_fields(row), **change.proposed})
    _save(row, {f: values[f] for f in change.proposed}, reason=why, requested_by=change.requested_by, approved_by=actor)
    _publish(row.pk, row.name, "approved", change_id=change.pk)
    return LimitChangeResult(row, True, change), ""


@transaction.atomic
def limit_change_reject(*, change_id: int, actor, reason: str) -> PendingLimitChange:
    """Any risk officer may reject (the requester withdrawing included); nothing changes."""
    require_risk_manager(actor, "reject limit changes")
    reason = require_reason(reason)
    change = four_eyes_lock(LIMIT_CHANGES, PendingLimitChange, change_id, missing=f"No pending change {change_id}.",
                            actor=actor, what="reject limit changes")
    four_eyes_decide(LIMIT_CHANGES, change, foureyes.REJECT, actor=actor, reason=reason, what="reject limit changes")
    _publish(change.limit_id, change.limit_name, "rejected", change_id=change.pk)
    return change


DEMO_REASON = "Demo default limits"


def demo_limits(*, portfolio, users) -> None:
    """Sensible defaults for the demo book (a ``DESK_DEMO_HOOKS`` entry); idempotent."""
    if RiskLimit.objects.exists():
        return
    pid = str(portfolio.pk)
    spec = [
        ("Max order quantity", K.SCOPE_DESK, "", K.MAX_ORDER_QTY, "200000", "block", {}),
        (f"Max order notional ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_ORDER_NOTIONAL, "2000000", "block", {}),
        ("Price collar", K.SCOPE_DESK, "", K.PRICE_COLLAR_PCT, "5", "block", {}),
        ("Duplicate-order window", K.SCOPE_DESK, "", K.DUPLICATE_WINDOW_S, "2", "block", {}),
        (f"Max position notional ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_POSITION_NOTIONAL, "1500000", "block", {}),
        (f"Max gross exposure ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_GROSS_EXPOSURE, "12000000", "block", {}),
        (f"Max net exposure ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_NET_EXPOSURE, "1.05", "block", {}),
        ("Max leverage", K.SCOPE_DESK, "", K.MAX_LEVERAGE, "1.2", "block", {}),
        (f"Max concentration ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_CONCENTRATION, "0.12", "block", {}),
        (f"Concentration warning ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_CONCENTRATION, "0.10", "warn", {}),
        ("Max sector concentration", K.SCOPE_DESK, "", K.MAX_SECTOR_CONCENTRATION, "0.35", "warn", {}),
        (f"Max daily loss ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_DAILY_LOSS, "300000", "block", {}),
        (f"Max drawdown ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_DRAWDOWN, "0.20", "block", {}),
        ("Max order rate", K.SCOPE_DESK, "", K.MAX_ORDER_RATE, "500", "block", {"window_s": 1}),
        (f"Max 1-day 95% VaR ({portfolio.name})", K.SCOPE_PORTFOLIO, pid, K.MAX_VAR_95, "400000", "warn", {"method": "historical"}),
        ("Restricted instruments", K.SCOPE_DESK, "", K.RESTRICTED_INSTRUMENTS, "0", "block", {"symbols": []}),
    ]
    actor = users["risk"]
    for name, scope, key, kind, thr, action, params in spec:
        limit_create(actor=actor, reason=DEMO_REASON, name=name, scope=scope, scope_key=key, kind=kind,
                     threshold=thr, action=action, params=params)


def limit_changes_expire(*, now=None) -> int:
    """Beat: pending changes past ``DESK_LIMIT_CHANGE_TTL_MINUTES`` expire; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=float(settings.DESK_LIMIT_CHANGE_TTL_MINUTES))
    done = 0
    for pk in PendingLimitChange.objects.filter(status=PendingLimitChange.Status.PENDING, created_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            change = PendingLimitChange.objects.select_for_update().get(pk=pk)
            if change.status == PendingLimitChange.Status.PENDING:
                _expire(change, f"the request is older than {settings.DESK_LIMIT_CHANGE_TTL_MINUTES:g} minutes")
                done += 1
    return done
