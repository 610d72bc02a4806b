"""What every risk service shares: its errors, the role rule, the four-eyes flows, and JSON-safe numbers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from desk import foureyes, roles
from desk.errors import DomainError, Forbidden, Invalid, NotFound
from desk.lifecycle import transition
from risk_app import states


class RiskError(DomainError):
    """Base of the risk services' refusals."""


class RiskInvalid(RiskError, Invalid):
    """Bad input; ``errors`` maps each field to a reason a person can read (an API 400)."""

    code, status = Invalid.code, Invalid.status

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
        self.errors = errors


class RiskPermissionDenied(RiskError, Forbidden):
    """Being the requester of a four-eyes change forbids deciding it (an API 403)."""

    code, status = Forbidden.code, Forbidden.status


class RiskRoleRefused(RiskPermissionDenied):
    """The actor's role forbids this (an API 403): only risk officers change limits and the trading state."""


class RiskNotFound(RiskError, NotFound):
    """No such limit, change, request or alert (an API 404)."""

    code, status = NotFound.code, NotFound.status


RISK_MANAGERS = frozenset({roles.RISK_OFFICER})  # admins edit no limits and change no trading state (DESIGN.md, "Roles")
REASON_TEXT = "A reason is required for every risk change."

# The two four-eyes flows of the risk desk: one rule (``desk.foureyes``), two vocabularies.
LIMIT_CHANGES = foureyes.FourEyes(
    table=states.LIMIT_CHANGE, may_request=RISK_MANAGERS, may_decide=RISK_MANAGERS,
    noun="change", checker="risk officer", reason_text=REASON_TEXT,
)
REARMS = foureyes.FourEyes(
    table=states.REARM, may_request=RISK_MANAGERS, may_decide=RISK_MANAGERS,
    noun="re-arm request", checker="risk officer", approve_verb="confirm", reason_text=REASON_TEXT,
)


def may_manage_risk(user) -> bool:
    """Only risk officers edit limits and the kill switch."""
    return bool(roles.roles_of(user) & RISK_MANAGERS)


def require_risk_manager(user, what: str) -> None:
    if not may_manage_risk(user):
        raise RiskRoleRefused(f"Only risk officers may {what}.")


@contextmanager
def four_eyes_refusals() -> Iterator[None]:
    """The four-eyes rule's refusals in the risk services' words (the API and the pages map these)."""
    try:
        yield
    except foureyes.RoleRefused as exc:
        raise RiskRoleRefused(str(exc)) from exc
    except foureyes.OwnRequest as exc:
        raise RiskPermissionDenied(str(exc)) from exc
    except (foureyes.AlreadyDecided, foureyes.ReasonRequired) as exc:
        raise RiskInvalid(exc.field_errors) from exc


def four_eyes_lock(rule: foureyes.FourEyes, model, pk: int, *, actor, what: str, missing: str,
                   check: str | None = None, reason: str | None = ""):
    """A four-eyes request's row for ``actor`` to decide: the decider's role, then the row locked
    (``select_for_update``, so two deciders act in turn) or ``RiskNotFound``, then - with ``check`` -
    the rule for that event (nothing written)."""
    require_risk_manager(actor, what)
    req = model.objects.select_for_update().filter(pk=pk).first()
    if req is None:
        raise RiskNotFound(missing)
    if check is not None:
        four_eyes_check(rule, req, check, actor=actor, reason=reason, what=what)
    return req


def four_eyes_check(rule: foureyes.FourEyes, req, event: str, *, actor, reason: str | None = "", what: str = "") -> tuple[str, str]:
    """``(next status, reason)`` for ``event`` on the request ``req`` by ``actor``, or a refusal; writes nothing."""
    with four_eyes_refusals():
        return rule.decide(status=req.status, event=event, requester_id=req.requested_by_id, actor_id=actor.pk,
                           roles=roles.roles_of(actor), reason=reason, what=what)


def four_eyes_decide(rule: foureyes.FourEyes, req, event: str, *, actor, reason: str | None = "", what: str = "") -> str:
    """The one apply function of a four-eyes request (the caller holds its row lock): the rule's
    checks, then the new status, the decider and the time written; returns the decision's reason."""
    status, text = four_eyes_check(rule, req, event, actor=actor, reason=reason, what=what)
    fields = ["status", "decided_by", "decided_at"]
    req.status, req.decided_by, req.decided_at = status, actor, timezone.now()
    if hasattr(req, "decision_reason"):
        req.decision_reason = text
        fields.append("decision_reason")
    with transition(req.LIFECYCLE):
        req.save(update_fields=fields)
    return text


def require_reason(reason: str | None) -> str:
    with four_eyes_refusals():
        return foureyes.require_reason(reason, REASON_TEXT)


def finite(x) -> float | None:
    """A float for JSON, or None for NaN/inf (a value that could not be measured)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def breach_dict(b) -> dict:
    return {
        "limit_id": b.limit_id, "name": b.name, "kind": b.kind, "action": b.action,
        "threshold": finite(b.threshold), "value": finite(b.value), "reason": b.reason,
    }


def verdict_dict(v) -> dict:
    return {
        "passed": v.passed,
        "reasons": v.reasons,
        "warnings": v.warnings,
        "breaches": [breach_dict(b) for b in v.breaches],
        "utilisation": {k: finite(x) for k, x in v.utilisation.items()},
        "reservation": v.reservation,
    }
