"""Reconciliation of the desk with a FIX venue (writes): runs, their breaks, and the resolution of a break.

A run asks the venue for its open orders (OrderMassStatusRequest AF -> one 8/I each) and its positions
(RequestForPositions AN -> AO, then one AP per symbol) and compares them with the desk's books
(``reconcile_core.compare``). The gateway runs it on its ORM thread, on every logon (before the venue takes
new orders), when the beat asks (``DESK_FIX_RECONCILE_MINUTES``) and when a person presses "Reconcile now";
the last two reach it over the wake channel (``{"kind": "reconcile", "venue": id, "run": id}``).

While a venue is unreconciled the router does not use it (``Venue.reconciled``): a logon sets it False, a
finished run (clean, or with its breaks recorded and alerted) sets it True, a run with no complete answer
within ``DESK_FIX_RECONCILE_TIMEOUT_S`` keeps it False and raises an alert. Fills the venue re-sends on the
resend or gap fill that follows a logon are applied by ExecID as every report is; the run counts them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from desk import roles
from desk.errors import Forbidden, Invalid
from fix_app import services
from fix_app.models import FixExecution, FixSession, ReconciliationBreak, ReconciliationRun
from fix_app.reconcile_core import Break, DeskOrder, VenueOrder, compare
from orders_app.models import Order, Venue
from risk_app.services.alerts import alert_raise, alert_resolve

log = logging.getLogger("desk.fix.reconcile")

Run = ReconciliationRun
KINDS = {  # reconcile_core's break kinds -> ReconciliationBreak.Kind
    "unknown_order": ReconciliationBreak.Kind.UNKNOWN_ORDER, "unknown_fill": ReconciliationBreak.Kind.UNKNOWN_ORDER,
    "status": ReconciliationBreak.Kind.STATUS_MISMATCH, "quantity": ReconciliationBreak.Kind.QTY_MISMATCH,
    "position": ReconciliationBreak.Kind.POSITION,
}


def timeout_s() -> float:
    return float(getattr(settings, "DESK_FIX_RECONCILE_TIMEOUT_S", 10.0))


def _alert_key(venue: Venue) -> str:
    return f"fix:reconcile:{venue.code}"


def may_reconcile(user) -> bool:
    return roles.is_admin(user) or roles.is_risk_officer(user)


# ---------------------------------------------------------------------------
# Asking for a run (the button, the beat)


@transaction.atomic
def reconciliation_request(*, venue_id: int, actor=None, trigger: str = Run.Trigger.BUTTON) -> Run:
    """Record a run of ``trigger`` (who asked, when) and ask the gateway for it after commit.

    The button is for admins and risk officers; the venue must be a FIX venue with its session logged on,
    and not already being reconciled (a run still within its timeout).
    """
    if trigger == Run.Trigger.BUTTON and (actor is None or not may_reconcile(actor)):
        raise Forbidden("Only admins and risk officers reconcile a venue.")
    venue = Venue.objects.select_for_update().filter(pk=venue_id).first()
    if venue is None or venue.kind != Venue.Kind.FIX:
        raise Invalid("Only a FIX venue is reconciled.", field_errors={"venue": "Not a FIX venue."})
    if not FixSession.objects.filter(venue=venue, logged_on=True).exists():
        raise Invalid(f"The FIX session to {venue.code} is not logged on; it is reconciled when it logs on.",
                      field_errors={"venue": "Session down."})
    busy = Run.objects.filter(venue=venue, status=Run.Status.RUNNING, started_at__gte=timezone.now() - timedelta(seconds=timeout_s() + 5))
    if busy.exists():
        raise Invalid(f"{venue.code} is being reconciled now.", field_errors={"venue": "A run is in progress."})
    run = Run.objects.create(venue=venue, trigger=trigger, requested_by=actor if trigger == Run.Trigger.BUTTON else None)
    services.gateway_wake_on_commit({"kind": "reconcile", "venue": venue.pk, "run": run.pk})
    return run


def reconciliations_schedule() -> list[str]:
    """The beat's run: a scheduled run of every FIX venue whose session is logged on (the venue codes asked);
    a run nobody answered (no gateway) is closed as timed out first."""
    stale = timezone.now() - timedelta(seconds=timeout_s() + 60)
    for run in Run.objects.select_related("venue").filter(status=Run.Status.RUNNING, started_at__lt=stale):
        reconciliation_timeout(run_id=run.pk, why="no gateway took the run (is `manage.py fix_gateway` running?)")
    asked = []
    for s in FixSession.objects.select_related("venue").filter(logged_on=True, venue__kind=Venue.Kind.FIX, venue__enabled=True):
        try:
            reconciliation_request(venue_id=s.venue_id, trigger=Run.Trigger.SCHEDULE)
        except Invalid as exc:
            log.info("fix.reconcile_skipped", extra={"venue": s.venue.code, "why": str(exc)})
            continue
        asked.append(s.venue.code)
    return asked


# ---------------------------------------------------------------------------
# The gateway's side of a run


@transaction.atomic
def reconciliation_start(*, venue: Venue, trigger: str, run_id: int | None = None) -> Run | None:
    """The gateway begins a run (the one asked for, or a new one); on a logon the venue is unreconciled
    from now until the run finishes. None: the run asked for is no longer waiting (closed meanwhile)."""
    if run_id is not None:
        run = Run.objects.select_for_update().filter(pk=run_id, venue=venue).first()
        if run is None or run.status != Run.Status.RUNNING:
            return None
        run.started_at = timezone.now()
        run.save(update_fields=["started_at"])
    else:
        run = Run.objects.create(venue=venue, trigger=trigger)
    if trigger == Run.Trigger.LOGON:
        Venue.objects.filter(pk=venue.pk).update(reconciled=False)
    return run


def _why(b: Break) -> str:
    d = b.detail
    if b.kind == "unknown_order":
        return f"the venue works {d['cl_ord_id']} ({d['side']} {d['leaves_qty']} {d['symbol']} open), unknown to the desk"
    if b.kind == "unknown_fill":
        return f"a fill {d['exec_id']} on {d['cl_ord_id']}, unknown to the desk"
    if b.kind == "position":
        return f"{d['symbol']}: venue {d['venue']}, desk {d['desk']} (difference {d['difference']})"
    if b.kind == "quantity":
        return f"venue CumQty {d['venue_cum_qty']}, desk filled {d['desk_filled_qty']}"
    return f"venue: {d['venue']}, desk: {d['desk']}"


@transaction.atomic
def reconciliation_finish(*, run_id: int, venue_orders: list[VenueOrder], venue_positions: dict[str, Decimal] | None,
                          desk_orders: list[DeskOrder], desk_positions: dict[str, Decimal]) -> Run:
    """Compare, record each break not already open (alerted), count, and let the router use the venue again.

    The desk's side was read as each answer completed (its orders once the last 8/I was applied in order
    behind the reports before it, its positions once the last AP was), so both sides describe one moment.
    Locks the run row (a timeout may race it).
    """
    run = Run.objects.select_for_update().select_related("venue").get(pk=run_id)
    if run.status != Run.Status.RUNNING:
        return run
    venue = run.venue
    outcome = compare(desk_orders=desk_orders, desk_exec_ids=set(), desk_positions=desk_positions, venue_orders=venue_orders,
                      venue_fills=[], venue_positions=venue_positions)
    open_breaks = [(b.kind, b.detail) for b in ReconciliationBreak.objects.filter(venue=venue, resolved_at__isnull=True, kind__in=set(KINDS.values()))]
    cids = {b.client_order_id for b in outcome.breaks if b.client_order_id}
    orders = {o.client_order_id: o for o in Order.objects.filter(client_order_id__in=cids)} if cids else {}
    for b in outcome.breaks:
        kind = KINDS[b.kind]
        detail = {"why": _why(b), **dict(b.detail), **({"client_order_id": b.client_order_id} if b.client_order_id else {})}
        if (kind, detail) in open_breaks:
            continue  # found again: still open, alerted once
        services.break_record(venue=venue, kind=kind, detail=detail, order=orders.get(b.client_order_id), run=run,
                              severity="critical" if kind == ReconciliationBreak.Kind.POSITION else "warning")
    run.fills_recovered = FixExecution.objects.filter(venue=venue, exec_type="F", outcome=FixExecution.Outcome.APPLIED, poss_dup=True,
                                                      received_at__gte=run.started_at).count()
    run.venue_orders, run.desk_orders = len(venue_orders), len(desk_orders)
    run.positions = len(set(venue_positions or {}) | {s for s, q in desk_positions.items() if q})
    run.breaks = len(outcome.breaks)
    run.status = Run.Status.BREAKS if outcome.breaks else Run.Status.CLEAN
    run.finished_at = timezone.now()
    run.save(update_fields=["fills_recovered", "venue_orders", "desk_orders", "positions", "breaks", "status", "finished_at"])
    Venue.objects.filter(pk=venue.pk).update(reconciled=True)
    alert_resolve(key=_alert_key(venue))
    log.info("fix.reconciled", extra={"venue": venue.code, "run": run.pk, "status": run.status, "breaks": run.breaks,
                                      "ms": round(run.duration_ms or 0, 1)})
    return run


@transaction.atomic
def reconciliation_timeout(*, run_id: int, why: str) -> Run:
    """No complete answer in time: the venue stays (or becomes) unreconciled, and an alert says so."""
    run = Run.objects.select_for_update().select_related("venue").get(pk=run_id)
    if run.status != Run.Status.RUNNING:
        return run
    run.status, run.finished_at, run.detail = Run.Status.TIMED_OUT, timezone.now(), why[:2000]
    run.save(update_fields=["status", "finished_at", "detail"])
    Venue.objects.filter(pk=run.venue_id).update(reconciled=False)
    alert_raise(kind=services.ALERT_KIND, key=_alert_key(run.venue), severity="critical",
                message=f"{run.venue.code} not reconciled (the router does not use it): {why}")
    log.warning("fix.reconcile_timeout", extra={"venue": run.venue.code, "run": run.pk, "why": why})
    return run


def reconciliation_fail(*, run_id: int, why: str) -> Run | None:
    """A run that cannot go on (the session went down, the gateway restarted): closed, the venue as it was
    (a logon run left it unreconciled, and the next logon runs again)."""
    n = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(status=Run.Status.FAILED, finished_at=timezone.now(),
                                                                        detail=why[:2000])
    return Run.objects.filter(pk=run_id).first() if n else None


def runs_abandon() -> int:
    """At the gateway's start: runs a predecessor left running are failed (each logon runs again)."""
    return Run.objects.filter(status=Run.Status.RUNNING).update(status=Run.Status.FAILED, finished_at=timezone.now(),
                                                               detail="the gateway restarted during the run")


# ---------------------------------------------------------------------------
# People


def break_resolve_validate(*, actor, note: str) -> str:
    if actor is None or not may_reconcile(actor):
        raise Forbidden("Only admins and risk officers resolve a reconciliation break.")
    note = (note or "").strip()
    if len(note) < 3:
        raise Invalid("Say how the break was resolved (at least 3 characters).", field_errors={"note": "Required."})
    return note


@transaction.atomic
def break_resolve(*, break_id: int, actor, note: str) -> ReconciliationBreak:
    """A person settles a break: who, when and how are kept on it; its alert is resolved. Locks the break row."""
    note = break_resolve_validate(actor=actor, note=note)
    brk = ReconciliationBreak.objects.select_for_update().filter(pk=break_id).first()
    if brk is None:
        raise Invalid("No such break.", field_errors={"break": "Unknown."})
    if brk.resolved_at is not None:
        raise Invalid("That break is resolved already.", field_errors={"break": "Resolved."})
    brk.resolved_at, brk.resolved_by, brk.resolution = timezone.now(), actor, note[:2000]
    brk.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    alert_resolve(key=f"fix:break:{brk.pk}")
    return brk


__all__ = [
    "break_resolve", "reconciliation_fail", "reconciliation_finish", "reconciliation_request", "reconciliation_start",
    "reconciliation_timeout", "reconciliations_schedule", "runs_abandon",
]
