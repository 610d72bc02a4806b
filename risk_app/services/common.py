"""What every risk service shares: its errors, the role rule, and JSON-safe numbers."""

from __future__ import annotations

import math

from desk.errors import DomainError, Forbidden, Invalid, NotFound
from desk import roles


class RiskError(DomainError):
    """Base of the risk services' refusals."""


class RiskInvalid(RiskError):
    """Bad input; ``errors`` maps each field to a reason a person can read (an API 400)."""

    code, status = Invalid.code, Invalid.status

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
        self.errors = errors


class RiskPermissionDenied(RiskError):
    """The actor's role (or being the requester of a four-eyes change) forbids this (an API 403)."""

    code, status = Forbidden.code, Forbidden.status


class RiskNotFound(RiskError):
    """No such limit, change, request or alert (an API 404)."""

    code, status = NotFound.code, NotFound.status


def may_manage_risk(user) -> bool:
    """Risk officers, and admins (who may do everything), edit limits and the kill switch."""
    return roles.has_role(user, roles.RISK_OFFICER, roles.ADMIN)


def require_risk_manager(user, what: str) -> None:
    if not may_manage_risk(user):
        raise RiskPermissionDenied(f"Only risk officers may {what}.")


def require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise RiskInvalid({"reason": "A reason is required for every risk change."})
    return text


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
    }
