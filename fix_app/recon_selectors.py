"""Reads for reconciliation: the desk's side of a run (its orders at a venue with their ClOrdID chains, its net
filled position per symbol there), and what the Reconciliation page lists."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import OuterRef, Subquery, Sum

from fix_app.models import ClOrdLink, FixCommand, FixSession, ReconciliationBreak, ReconciliationRun
from fix_app.reconcile_core import DeskOrder
from orders_app.models import Fill, Order, Venue
from orders_app.states import OPEN_STATUSES

SENT = (FixCommand.State.SENT, FixCommand.State.ACKED)


def desk_orders_at_venue(*, venue_id: int, cl_ord_ids: Iterable[str]) -> list[DeskOrder]:
    """The desk's orders the venue should be working (open, their NewOrderSingle gone out; one still in the outbox
    is not at the venue yet), and any order ``cl_ord_ids`` (the venue's open orders) names, whatever its status."""
    working = set(FixCommand.objects.filter(venue_id=venue_id, kind=FixCommand.Kind.NEW, state__in=SENT,
                                            order__status__in=OPEN_STATUSES).values_list("order_id", flat=True))
    named = set(ClOrdLink.objects.filter(venue_id=venue_id, cl_ord_id__in=list(cl_ord_ids)).values_list("order_id", flat=True))
    ids = working | named
    if not ids:
        return []
    chains: dict[int, set[str]] = {}
    for order_id, cl in ClOrdLink.objects.filter(venue_id=venue_id, order_id__in=ids).values_list("order_id", "cl_ord_id"):
        chains.setdefault(order_id, set()).add(cl)
    rows = Order.objects.filter(pk__in=ids).values_list("pk", "client_order_id", "instrument__symbol", "side", "filled_qty", "status")
    return [DeskOrder(cid, frozenset(chains.get(pk, ())), symbol, side, filled, status) for pk, cid, symbol, side, filled, status in rows]


def desk_positions_at_venue(*, venue_id: int) -> dict[str, Decimal]:
    """Net filled quantity per symbol of every fill the desk booked at the venue (a bust's reversal row included)."""
    out: dict[str, Decimal] = {}
    rows = Fill.objects.filter(venue_id=venue_id).values_list("order__instrument__symbol", "order__side").annotate(q=Sum("last_qty"))
    for symbol, side, qty in rows:
        out[symbol] = out.get(symbol, Decimal(0)) + (qty if side == "BUY" else -qty)
    return out


def fix_venues_state() -> list[dict]:
    """Each FIX venue with its session, whether the router uses it, and its last run."""
    latest = ReconciliationRun.objects.filter(venue=OuterRef("pk")).order_by("-started_at", "-id").values("pk")[:1]
    venues = list(Venue.objects.filter(kind=Venue.Kind.FIX).annotate(last_run_id=Subquery(latest)).order_by("code"))
    sessions = {s.venue_id: s for s in FixSession.objects.filter(venue__in=venues)}
    runs = ReconciliationRun.objects.in_bulk([v.last_run_id for v in venues if v.last_run_id])
    return [{"venue": v, "session": sessions.get(v.pk), "last_run": runs.get(v.last_run_id)} for v in venues]


def runs_recent(*, limit: int = 50) -> list[ReconciliationRun]:
    return list(ReconciliationRun.objects.select_related("venue", "requested_by").order_by("-started_at", "-id")[:limit])


def breaks_list(*, limit: int = 200) -> list[ReconciliationBreak]:
    """Open breaks first (oldest first: the longest waiting at the top), then the latest resolved ones."""
    qs = ReconciliationBreak.objects.select_related("venue", "order", "run", "resolved_by")
    open_ = list(qs.filter(resolved_at__isnull=True).order_by("created_at", "id")[:limit])
    done = list(qs.filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")[: max(limit - len(open_), 20)])
    return open_ + done


__all__ = ["breaks_list", "desk_orders_at_venue", "desk_positions_at_venue", "fix_venues_state", "runs_recent"]
