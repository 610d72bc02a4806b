"""Risk reads: trading states, limits with utilisation, pending changes, history, alerts, exposure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desk.interfaces import TradingState
from risk_app.checks import KINDS
from risk_app.models import Alert, PendingLimitChange, RiskLimit, RiskSnapshot, TradingStateChange, TradingStateRearm, TradingStateRecord

HISTORY_FIELDS = ("name", "scope", "scope_key", "kind", "threshold", "action", "enabled", "note", "params")


def desk_trading_state() -> str:
    row = TradingStateRecord.objects.filter(scope="desk").only("state").first()
    return row.state if row else TradingState.ACTIVE.value


def trading_state_of(scope: str) -> TradingStateRecord | None:
    return TradingStateRecord.objects.filter(scope=scope).select_related("set_by").first()


def trading_states(portfolios) -> list[dict[str, Any]]:
    """The desk first, then each portfolio: scope, label, state, reason, who, when, pending re-arm."""
    scopes = ["desk"] + [f"portfolio:{p.pk}" for p in portfolios]
    labels = {"desk": "Desk"} | {f"portfolio:{p.pk}": p.name for p in portfolios}
    recs = {r.scope: r for r in TradingStateRecord.objects.filter(scope__in=scopes).select_related("set_by")}
    rearms = {
        r.scope: r
        for r in TradingStateRearm.objects.filter(scope__in=scopes, status=TradingStateRearm.Status.PENDING).select_related("requested_by")
    }
    out = []
    for s in scopes:
        r = recs.get(s)
        out.append({
            "scope": s, "label": labels[s], "state": r.state if r else TradingState.ACTIVE.value,
            "reason": r.reason if r else "", "set_by": r.set_by.username if r and r.set_by else None,
            "set_at": r.set_at if r else None, "rearm": rearms.get(s),
        })
    return out


@dataclass
class HaltCancels:
    """What the last HALT did at the venues: each working order's cancel, and when its venue confirmed it."""

    halted_at: Any
    scope: str
    rows: list
    pending: int


def halt_cancels(limit: int = 200) -> HaltCancels | None:
    """The cancels sent since the newest change to HALTED (None when there was none): per child order,
    its venue, when the desk asked, and the venue's confirmation time (``OrderEvent.venue_ts``)."""
    from orders_app.models import Order, OrderEvent

    halt = TradingStateChange.objects.filter(to_state=TradingState.HALTED.value).order_by("-ts").first()
    if halt is None:
        return None
    asked = OrderEvent.objects.filter(event="PENDING_CANCEL", ts__gte=halt.ts, order__parent__isnull=False)
    order_ids = list(asked.values_list("order_id", flat=True)[:limit])
    confirmed = {
        e.order_id: e
        for e in OrderEvent.objects.filter(order_id__in=order_ids, event__in=["CANCELED", "CANCEL_REJECTED"], ts__gte=halt.ts)
    }
    rows = []
    for o in Order.objects.filter(pk__in=order_ids).select_related("venue", "instrument").order_by("id"):
        e = confirmed.get(o.pk)
        rows.append({"order": o, "venue": o.venue.code if o.venue_id else "", "status": o.status,
                     "confirmed_at": e.venue_ts if e else None, "refused": e.reason if e and e.event == "CANCEL_REJECTED" else ""})
    return HaltCancels(halt.ts, halt.scope, rows, sum(1 for r in rows if r["status"] == "PENDING_CANCEL"))


def state_changes(limit: int = 20):
    return TradingStateChange.objects.select_related("actor", "confirmed_by")[:limit]


def limits_list():
    return RiskLimit.objects.select_related("requested_by", "approved_by").order_by("scope", "scope_key", "kind", "id")


def limit_get(limit_id: int) -> RiskLimit | None:
    return RiskLimit.objects.filter(pk=limit_id).first()


@dataclass
class LimitRow:
    limit: RiskLimit
    label: str
    unit: str
    scope_label: str
    utilisation: float | None


def limit_rows(utilisation: dict[str, float | None], portfolio_names: dict[int, str]) -> list[LimitRow]:
    rows = []
    for lim in limits_list():
        info = KINDS.get(lim.kind)
        if lim.scope == "portfolio" and (lim.scope_key.isascii() and lim.scope_key.isdigit()):
            scope_label = portfolio_names.get(int(lim.scope_key), f"portfolio {lim.scope_key}")
        elif lim.scope == "desk":
            scope_label = "Desk"
        else:
            scope_label = f"{lim.scope} {lim.scope_key}"
        rows.append(LimitRow(lim, info.label if info else lim.kind, info.unit if info else "", scope_label,
                             utilisation.get(str(lim.pk))))
    return rows


def pending_changes():
    return PendingLimitChange.objects.filter(status=PendingLimitChange.Status.PENDING).select_related("requested_by", "limit")


def limit_history(limit_id: int) -> list[dict[str, Any]]:
    """Every version of a limit, newest first: who, when, before, after, why, who approved."""
    hist = list(
        RiskLimit.history.filter(id=limit_id).order_by("history_date", "history_id").select_related("history_user")
    )
    from django.contrib.auth import get_user_model

    approvers = dict(
        get_user_model().objects.filter(pk__in={h.approved_by_id for h in hist if h.approved_by_id}).values_list("pk", "username")
    )
    out, prev = [], None
    for h in hist:
        after = {f: _jsonable(getattr(h, f)) for f in HISTORY_FIELDS}
        before = {f: _jsonable(getattr(prev, f)) for f in HISTORY_FIELDS} if prev is not None else {}
        changed = [f for f in HISTORY_FIELDS if before.get(f) != after[f]] if prev is not None else list(HISTORY_FIELDS)
        kind = {"+": "created", "~": "changed", "-": "deleted"}[h.history_type]
        out.append({
            "id": h.history_id, "type": kind, "when": h.history_date,
            "who": h.history_user.username if h.history_user else None,
            "why": h.history_change_reason or "", "approved_by": approvers.get(h.approved_by_id),
            "changed": changed if kind != "deleted" else [],
            "before": {f: before.get(f) for f in changed} if kind == "changed" else {},
            "after": {f: after[f] for f in changed} if kind != "deleted" else {},
        })
        prev = h
    out.reverse()
    return out


def limit_history_name(limit_id: int) -> str | None:
    h = RiskLimit.history.filter(id=limit_id).order_by("-history_date").values_list("name", flat=True).first()
    return h


def _jsonable(v):
    from decimal import Decimal

    return format(v.normalize(), "f") if isinstance(v, Decimal) else v


def alerts_list(*, status: str | None = None, portfolio_ids=None, limit: int = 200):
    qs = Alert.objects.select_related("acknowledged_by", "portfolio")
    if status:
        qs = qs.filter(status=status)
    if portfolio_ids is not None:
        from django.db.models import Q

        qs = qs.filter(Q(portfolio_id__in=list(portfolio_ids)) | Q(portfolio__isnull=True))
    return qs.order_by("status", "-updated_at", "-id")[:limit]


def alert_visible_to(user, alert_id: int) -> bool:
    """Desk-wide alerts are everyone's; a portfolio's alert only for those who may see the portfolio."""
    from desk import roles
    from portfolio_app.selectors import portfolio_ids_visible_to

    portfolio_id = Alert.objects.filter(pk=alert_id).values_list("portfolio_id", flat=True).first()
    if portfolio_id is None:
        return Alert.objects.filter(pk=alert_id).exists()
    return roles.sees_all_portfolios(user) or portfolio_id in set(portfolio_ids_visible_to(user))


def active_alert_count(portfolio_ids=None) -> int:
    qs = Alert.objects.filter(status=Alert.Status.ACTIVE)
    if portfolio_ids is not None:
        from django.db.models import Q

        qs = qs.filter(Q(portfolio_id__in=list(portfolio_ids)) | Q(portfolio__isnull=True))
    return qs.count()


def risk_snapshot(portfolio_id: int) -> RiskSnapshot | None:
    return RiskSnapshot.objects.filter(portfolio_id=portfolio_id).first()
