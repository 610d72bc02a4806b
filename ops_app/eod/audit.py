"""The day's audit rows: breaches, denials, overrides (kill-switch changes), approvals, limit changes, and
the reconciliation breaks open at the day's end. Rows stamped with wall time are read in the day's window."""

from __future__ import annotations

from django.db.models import Q

from ops_app.eod.fmt import Day, in_window, qty, text


def breaches(pids, names, day: Day) -> list[dict]:
    from risk_app.models import RiskCheck

    rows = (RiskCheck.objects.filter(portfolio_id__in=pids).filter(in_window("ts", day)).exclude(breaches=[])
            .order_by("ts", "id"))
    out = []
    for r in rows:
        limits = "; ".join(
            (b.get("name") or b.get("limit") or b.get("kind") or "") + (f" ({b['action']})" if b.get("action") else "")
            if isinstance(b, dict) else str(b)
            for b in r.breaches
        )
        out.append({
            "portfolio": names.get(r.portfolio_id, ""), "time": r.ts.isoformat(), "client_order_id": r.client_order_id,
            "symbol": r.symbol, "side": r.side, "quantity": qty(r.quantity), "passed": "yes" if r.passed else "no",
            "limits": limits,
        })
    return out


def denied(pids, names, day: Day) -> list[dict]:
    from orders_app.models import OrderEvent

    events = (OrderEvent.objects.filter(order__portfolio_id__in=pids, to_status="DENIED").filter(in_window("ts", day))
              .select_related("order", "order__instrument").order_by("ts", "id"))
    return [{
        "portfolio": names[e.order.portfolio_id], "time": e.ts.isoformat(), "client_order_id": e.order.client_order_id,
        "symbol": e.order.instrument.symbol, "side": e.order.side, "quantity": qty(e.order.quantity),
        "reason": e.reason or e.order.reason,
    } for e in events]


def overrides(pids, day: Day) -> list[dict]:
    from risk_app.models import TradingStateChange

    scopes = ["desk", *(f"portfolio:{pid}" for pid in pids)]
    rows = (TradingStateChange.objects.filter(scope__in=scopes).filter(in_window("ts", day))
            .select_related("actor", "confirmed_by").order_by("ts", "id"))
    return [{
        "time": r.ts.isoformat(), "scope": r.scope, "from_state": r.from_state, "to_state": r.to_state,
        "actor": r.actor.username if r.actor else "", "confirmed_by": r.confirmed_by.username if r.confirmed_by else "",
        "reason": r.reason,
    } for r in rows]


def approvals(pids, names, day: Day) -> list[dict]:
    from portfolio_app.models import ProposalEvent

    rows = (ProposalEvent.objects.filter(proposal__portfolio_id__in=pids, to_status__in=("APPROVED", "REJECTED"))
            .filter(in_window("ts", day)).select_related("proposal", "actor").order_by("ts", "id"))
    return [{
        "portfolio": names[r.proposal.portfolio_id], "time": r.ts.isoformat(), "proposal": f"#{r.proposal_id}",
        "from_status": r.from_status, "to_status": r.to_status, "actor": r.actor.username if r.actor else "",
        "reason": r.reason,
    } for r in rows]


def limit_changes(pids, day: Day) -> list[dict]:
    """Every limit version written in the day (who, when, before, after, why) and four-eyes requests decided."""
    from risk_app.models import PendingLimitChange, RiskLimit
    from risk_app.selectors import HISTORY_FIELDS

    concerns = Q(scope__in=("desk", "instrument")) | Q(scope="portfolio", scope_key__in=[str(p) for p in pids])
    hist = list(RiskLimit.history.filter(concerns).filter(in_window("history_date", day))
                .select_related("history_user").order_by("history_date", "history_id"))
    out = []
    for h in hist:
        prev = h.prev_record
        after = {f: text(getattr(h, f)) for f in HISTORY_FIELDS}
        before = {f: text(getattr(prev, f)) for f in HISTORY_FIELDS} if prev is not None else {}
        changed = [f for f in HISTORY_FIELDS if before.get(f) != after[f]] if prev is not None else []
        kind = {"+": "created", "~": "changed", "-": "deleted"}[h.history_type]
        out.append({
            "time": h.history_date.isoformat(), "limit": h.name, "change": kind,
            "who": h.history_user.username if h.history_user else "",
            "approved_by": "", "before": "; ".join(f"{f}={before[f]}" for f in changed),
            "after": "; ".join(f"{f}={after[f]}" for f in changed) if kind == "changed" else "",
            "why": h.history_change_reason or "",
        })
        if h.approved_by_id:
            from django.contrib.auth import get_user_model

            out[-1]["approved_by"] = get_user_model().objects.filter(pk=h.approved_by_id).values_list("username", flat=True).first() or ""
    for c in (PendingLimitChange.objects.exclude(status="pending").filter(in_window("decided_at", day))
              .select_related("requested_by", "decided_by").order_by("decided_at", "id")):
        out.append({
            "time": c.decided_at.isoformat(), "limit": c.limit_name, "change": f"four-eyes {c.status}",
            "who": c.requested_by.username, "approved_by": c.decided_by.username if c.decided_by else "",
            "before": "; ".join(f"{k}={v}" for k, v in sorted(c.before.items())),
            "after": "; ".join(f"{k}={v}" for k, v in sorted(c.proposed.items())),
            "why": c.reason + (f" / {c.decision_reason}" if c.decision_reason else ""),
        })
    out.sort(key=lambda r: r["time"])
    return out


def recon_breaks(day: Day) -> list[dict]:
    """Reconciliation breaks open at the end of the day (found by then, not resolved by then)."""
    from fix_app.models import ReconciliationBreak

    rows = (ReconciliationBreak.objects.filter(created_at__lte=day.wall_end)
            .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=day.wall_end))
            .select_related("venue", "order").order_by("created_at", "id"))
    return [{
        "id": str(b.pk), "found": b.created_at.isoformat(), "venue": b.venue.code, "kind": b.kind,
        "order": b.order.client_order_id if b.order else str(b.detail.get("client_order_id") or b.detail.get("cl_ord_id") or ""),
        "what": str(b.detail.get("why") or ""),
    } for b in rows]
