"""What a venue sends, received (services): execution reports and cancel rejects, session rejects.

``report_receive`` runs on the gateway's one ORM thread, for a report ``fix_app.mapping`` parsed:
once per (venue, ExecID) - a repeat (PossDup, PossResend) finds its ``FixExecution`` and changes
nothing; the order is found by any ClOrdID of its chain; the report is applied by
``orders_app.reports.report_apply`` whole or not at all, and what was not applied is a
``ReconciliationBreak`` with an alert. A report on no order of the desk is answered with a
DontKnowTrade (the gateway sends it). All in one transaction: the session's incoming sequence
number moves on only after it committed (the gateway's callback waits), so a gateway killed
mid-report gets the report again by resend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from fix_app import mapping, services
from fix_app.models import FixCommand, FixExecution, ReconciliationBreak
from market_app.clock import get_clock
from orders_app.models import Order, Venue
from orders_app.reports import VenueReport, fill_report, report_apply

log = logging.getLogger("desk.fix")

# OrdStatus of a finished order -> the desk status it settles a doubtful order to.
_SETTLES = {"4": "CANCELED", "C": "EXPIRED", "3": "EXPIRED", "8": "REJECTED"}


@dataclass(frozen=True)
class Answer:
    """What the gateway does after a report: nothing, or send a DontKnowTrade."""

    outcome: str  # applied | duplicate | break | unknown
    dont_know: str = ""  # why, when a DontKnowTrade is due


def trade_id(venue: Venue, exec_id: str) -> str:
    """A fill's trade id: the venue's ExecID, under the venue's code (two venues may reuse an ExecID)."""
    return f"{venue.code}:{exec_id}"


def _venue_report(venue: Venue, r: mapping.Report, order: Order) -> VenueReport:
    ts = r.transact_time
    fill = None
    if r.kind in ("FILL", "CORRECT"):
        fill = fill_report(trade_id=trade_id(venue, r.exec_id), order=order, venue=venue.code, last_qty=r.last_qty,
                           last_px=r.last_px, commission=r.commission, ts=ts or get_clock().market_now())
    return VenueReport(
        kind=r.kind, venue=venue.code, reason=r.text, ts=ts, fill=fill,
        quantity=r.order_qty if r.kind == "REPLACED" else None, limit_price=r.price if r.kind == "REPLACED" else None,
        ref_trade_id=trade_id(venue, r.exec_ref_id) if r.exec_ref_id else "",
        venue_status=_SETTLES.get(r.ord_status, ""),
        cum_qty=r.cum_qty, leaves_qty=r.leaves_qty, statuses=mapping.STATUS_ALLOWS.get(r.ord_status, frozenset()),
    )


def _execution(venue: Venue, r: mapping.Report, *, order: Order | None, outcome: str, detail: dict | None = None) -> FixExecution:
    return FixExecution.objects.create(
        venue=venue, exec_id=r.exec_id, order=order, msg_type=r.msg_type, exec_type=r.exec_type, ord_status=r.ord_status,
        cl_ord_id=r.cl_ord_id, orig_cl_ord_id=r.orig_cl_ord_id, exec_ref_id=r.exec_ref_id, last_qty=r.last_qty,
        last_px=r.last_px, commission=r.commission if r.kind in ("FILL", "CORRECT") else None, cum_qty=r.cum_qty,
        leaves_qty=r.leaves_qty, trade_id=trade_id(venue, r.exec_id) if r.kind in ("FILL", "CORRECT") else "",
        transact_time=r.transact_time, poss_dup=r.poss_dup or r.poss_resend, outcome=outcome, detail=detail or {},
    )


@transaction.atomic
def report_receive(*, venue: Venue, report: mapping.Report) -> Answer:
    """Apply one report from ``venue`` once (see the module docstring)."""
    if FixExecution.objects.filter(venue=venue, exec_id=report.exec_id).exists():
        return Answer("duplicate")
    link = services.link_find(venue=venue, cl_ord_id=report.cl_ord_id, orig_cl_ord_id=report.orig_cl_ord_id)
    if link is None:
        why = f"no order of the desk has ClOrdID {report.cl_ord_id or report.orig_cl_ord_id!r} at {venue.code}"
        _execution(venue, report, order=None, outcome=FixExecution.Outcome.UNKNOWN)
        services.break_record(venue=venue, kind=ReconciliationBreak.Kind.UNKNOWN_ORDER, detail={"why": why, **report.as_detail()})
        return Answer("unknown", dont_know=why if report.msg_type == mapping.EXECUTION_REPORT else "")
    order = Order.objects.select_related("instrument").get(pk=link.order_id)
    outcome = report_apply(order_id=order.pk, report=_venue_report(venue, report, order))
    services.commands_ack(venue=venue, cl_ord_id=report.cl_ord_id or report.orig_cl_ord_id, status=report.kind == "STATUS")
    if not outcome.applied:
        detail = {"why": outcome.why, "desk_status": outcome.status, **report.as_detail()}
        _execution(venue, report, order=order, outcome=FixExecution.Outcome.BREAK, detail=detail)
        services.break_record(venue=venue, kind=outcome.break_kind, detail=detail, order=order)
        log.warning("fix.break", extra={"venue": venue.code, "exec_id": report.exec_id, "why": outcome.why})
        return Answer("break")
    _execution(venue, report, order=order, outcome=FixExecution.Outcome.APPLIED)
    if report.kind == "REPLACED" and report.cl_ord_id:
        services.link_live(venue=venue, cl_ord_id=report.cl_ord_id)
    if report.kind in ("BUST", "CORRECT") and not outcome.noop:
        verb = "busted" if report.kind == "BUST" else "corrected"
        services.break_record(
            venue=venue, kind=ReconciliationBreak.Kind.BUST if report.kind == "BUST" else ReconciliationBreak.Kind.CORRECT,
            detail={"why": f"trade {report.exec_ref_id} {verb} by the venue", **report.as_detail()}, order=order, severity="critical",
            resolution=f"applied: fill {trade_id(venue, report.exec_ref_id)} {verb}, position rebooked",
        )
    return Answer("applied")


@transaction.atomic
def session_reject_receive(*, venue: Venue, ref_seq_num: int, text: str) -> str:
    """The venue refused one of our messages at session level (3) or business level (j): its command failed.

    A refused new order is a rejected order (re-routed like any); a refused cancel or replace puts
    the order back where it was. Returns what it did.
    """
    cmd = services.command_by_seq(venue=venue, seq_num=ref_seq_num)
    if cmd is None or cmd.state not in (FixCommand.State.SENT, FixCommand.State.PENDING):
        return "no command"
    why = f"{venue.code} refused the message: {text or 'no reason given'}"
    services.command_fail(cmd, why=why)
    kind = {FixCommand.Kind.NEW: "REJECTED", FixCommand.Kind.CANCEL: "CANCEL_REFUSED",
            FixCommand.Kind.REPLACE: "REPLACE_REFUSED"}.get(cmd.kind)
    if kind is None:
        return "status request refused"
    outcome = report_apply(order_id=cmd.order_id, report=VenueReport(kind=kind, venue=venue.code, reason=why, ts=None))
    if not outcome.applied:
        services.break_record(venue=venue, kind=outcome.break_kind, order=Order.objects.get(pk=cmd.order_id),
                              detail={"why": outcome.why, "cl_ord_id": cmd.cl_ord_id, "ref_seq_num": ref_seq_num, "text": text})
    return kind.lower()


def malformed_receive(*, venue: Venue, why: str, raw: str) -> None:
    """A message refused at session level as malformed: recorded so a person sees it."""
    services.break_record(venue=venue, kind=ReconciliationBreak.Kind.MALFORMED, detail={"why": why, "raw": raw[:2000].replace("\x01", "|"),
                                                                                       "at": timezone.now().isoformat()})


__all__ = ["Answer", "malformed_receive", "report_receive", "session_reject_receive", "trade_id"]
