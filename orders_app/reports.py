"""A venue's report applied to a child order (services): the orders side of a venue that reports by push.

A venue client that answers "sent; reports follow" (a FIX session) has its gateway call
``report_apply`` for each report it matched to an order: accepted, a fill, cancelled (with the
venue's time), replaced, rejected (and re-routed like the paper path), expired, a cancel or replace
refused, a fill busted or corrected, or a status that settles what was in doubt. Nothing here
knows FIX; the paper path could hand its results through the same function.

Every report carries the venue's view of the order (cumulative and leaves quantity, the statuses
its order status allows); ``report_apply`` applies the report, compares the desk's order with that
view, and on a mismatch raises ``ReportBreak`` out of the transaction, which rolls it back: a report
is applied whole or not at all, and the caller records the break.
Locking order: portfolio row -> parent -> child -> position.

Busts and corrections cannot run the order's state machine backwards: the fill is reversed by a
reversing fill row (``<trade id>~bust``, negative quantity, so a position is still the sum of its
fills), the order's and parent's filled quantity and average price are rebooked from their fills,
the position is replayed from its fills, cash moves back by the fill's cash; the order keeps its
status, and an ``OrderEvent`` (FILL_BUSTED / FILL_CORRECTED) records who-what-when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from desk import groups
from desk.events import event_publish
from desk.interfaces import FillReport, OrderStatus
from market_app.clock import get_clock
from orders_app import states
from orders_app.models import Fill, Order, OrderEvent
from orders_app.services import OrderError, fill_apply_locked, order_apply_event, order_payload, order_transition_locked
from orders_app.working import _end_child, _lock_all, _reroute, parent_settle
from portfolio_app.accounting import apply_fill
from portfolio_app.models import Portfolio, Position

S = OrderStatus
BUST_SUFFIX = "~bust"

# Report kinds (the vocabulary of fix_app.mapping.INBOUND).
KINDS = frozenset({
    "ACCEPTED", "PENDING_NEW", "FILL", "CANCELED", "REPLACED", "REJECTED", "PENDING_CANCEL", "PENDING_UPDATE",
    "EXPIRED", "STATUS", "BUST", "CORRECT", "CANCEL_REFUSED", "REPLACE_REFUSED",
})

# Kinds of break: why a report was not applied.
QTY_MISMATCH, STATUS_MISMATCH, OUT_OF_ORDER, IMPOSSIBLE = "qty_mismatch", "status_mismatch", "out_of_order", "impossible"


@dataclass(frozen=True)
class VenueReport:
    """What a venue said about one order, in the desk's words."""

    kind: str
    venue: str
    reason: str = ""
    ts: datetime | None = None  # the venue's time of the event (a cancel's or replace's confirmation)
    fill: FillReport | None = None  # FILL and CORRECT
    quantity: Decimal | None = None  # REPLACED: the new total quantity
    limit_price: Decimal | None = None  # REPLACED: the new limit
    ref_trade_id: str = ""  # BUST and CORRECT: the fill they change
    venue_status: str = ""  # STATUS and the refusals: a terminal status the venue has the order in, if any
    # The venue's view, checked against the desk's order once the report is applied (None: not said).
    cum_qty: Decimal | None = None
    leaves_qty: Decimal | None = None
    statuses: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ReportOutcome:
    order_id: int
    status: str
    noop: bool = False  # applied, and changed nothing (a repeat, a pending state the desk already had)


class ReportBreak(Exception):
    """A report the desk does not apply (``kind``: qty_mismatch, status_mismatch, out_of_order, impossible), and why."""

    def __init__(self, kind: str, why: str, *, order_id: int | None = None, status: str = ""):
        super().__init__(why)
        self.kind, self.why, self.order_id, self.status = kind, why, order_id, status


_Break = ReportBreak
# Handlers whose moves re-read the order (``order_apply_event``): the check reads it again too.
_REREAD = frozenset({"REJECTED", "REPLACED", "STATUS", "BUST", "CORRECT", "CANCEL_REFUSED", "REPLACE_REFUSED"})


def report_apply(*, order_id: int, report: VenueReport, head: tuple[int, int | None] | None = None) -> ReportOutcome:
    """Apply ``report`` to child ``order_id`` whole, or raise ``ReportBreak`` having changed nothing.

    No savepoint of its own: inside the caller's transaction a break propagates out of it and rolls
    it back (let it leave your ``atomic`` block, then record the break). ``head`` is the child's
    (portfolio id, parent id) when the caller knows them. Locks the portfolio, parent, child.
    """
    if report.kind not in KINDS:
        raise ValueError(f"unknown report kind {report.kind!r}")
    if head is None:
        row = Order.objects.filter(pk=order_id).values_list("portfolio_id", "parent_id").first()
        if row is None:
            raise ReportBreak(OUT_OF_ORDER, f"no order {order_id}")
        head = row
    portfolio_id, parent_id = head
    with transaction.atomic(savepoint=False):
        portfolio, locked = _lock_all(portfolio_id, *[i for i in (parent_id, order_id) if i])
        child, parent = locked[-1], (locked[0] if len(locked) > 1 else None)
        status = child.status
        try:
            changed = _HANDLERS[report.kind](child, parent, portfolio, report)
            fresh = Order.objects.get(pk=child.pk) if report.kind in _REREAD else child
            _check(fresh, report)
        except ReportBreak as b:
            b.order_id, b.status = order_id, status
            raise
        except states.IllegalTransition as exc:
            raise ReportBreak(OUT_OF_ORDER, f"{report.kind} on an order {status}: {exc}", order_id=order_id, status=status) from exc
        except OrderError as exc:
            raise ReportBreak(IMPOSSIBLE, str(exc), order_id=order_id, status=status) from exc
        return ReportOutcome(order_id, fresh.status, noop=not changed)


def _check(order: Order, report: VenueReport) -> None:
    """The venue's CumQty, LeavesQty and order status against the desk's order after the report."""
    if report.cum_qty is not None and report.cum_qty != order.filled_qty:
        raise _Break(QTY_MISMATCH, f"venue CumQty {_n(report.cum_qty)}, desk filled {_n(order.filled_qty)}")
    if report.leaves_qty is not None:
        leaves = order.quantity - order.filled_qty if order.status in states.OPEN_STATUSES else Decimal(0)
        if report.leaves_qty != leaves:
            raise _Break(QTY_MISMATCH, f"venue LeavesQty {_n(report.leaves_qty)}, desk leaves {_n(leaves)} ({order.status})")
    # A bust or correction cannot move a status back (see the module docstring): its quantities are what count.
    if report.statuses and report.kind not in ("BUST", "CORRECT") and order.status not in report.statuses:
        raise _Break(STATUS_MISMATCH, f"venue has it {'/'.join(sorted(report.statuses))}, desk {order.status}")


def _n(d: Decimal) -> str:
    return format(d.normalize(), "f")


def _when(report: VenueReport) -> str:
    return report.ts.isoformat(timespec="milliseconds") if report.ts else "?"


def _ended(child: Order) -> None:
    if child.wake_at is not None:  # a child sent to a venue that reports by push has no task waiting
        Order.objects.filter(pk=child.pk).update(wake_at=None)
    if child.parent_id:
        parent_settle(parent_id=child.parent_id)


# -- one handler per kind: (child, parent, portfolio, report) -> whether anything changed


def _accepted(child, parent, portfolio, report) -> bool:
    if child.status != S.SUBMITTED.value:
        return False  # already past it (a repeat, or the fill came first)
    order_transition_locked(child, states.ACCEPTED, venue_ts=report.ts)
    return True


def _nothing(child, parent, portfolio, report) -> bool:
    return False


def _fill(child, parent, portfolio, report) -> bool:
    if Fill.objects.filter(trade_id=report.fill.trade_id).exists():
        return False
    if states.is_terminal(child.status):
        raise _Break(OUT_OF_ORDER, f"a fill on an order already {child.status}")
    fill_apply_locked(portfolio=portfolio, order=child, parent=parent, report=report.fill)
    if states.is_terminal(child.status):
        _ended(child)
    return True


def _canceled(child, parent, portfolio, report) -> bool:
    if child.status == S.CANCELED.value:
        return False
    if child.status == S.PENDING_CANCEL.value:
        why = f"cancelled on request; confirmed by {report.venue} at {_when(report)}"
    else:
        why = f"cancelled by {report.venue} at {_when(report)}" + (f": {report.reason}" if report.reason else "")
    order_transition_locked(child, states.CANCELED, reason=why, venue_ts=report.ts)
    _ended(child)
    return True


def _replaced(child, parent, portfolio, report) -> bool:
    changes = {}
    if report.quantity is not None and report.quantity != child.quantity:
        changes["quantity"] = report.quantity
    if report.limit_price is not None and child.limit_price is not None and report.limit_price != child.limit_price:
        changes["limit_price"] = report.limit_price
    if child.status != S.PENDING_UPDATE.value and not changes:
        return False  # a repeat of a replace already applied
    fresh = order_apply_event(order_id=child.pk, event=states.UPDATED, venue_ts=report.ts, **changes)
    child.status, child.quantity, child.limit_price = fresh.status, fresh.quantity, fresh.limit_price
    return True


def _rejected(child, parent, portfolio, report) -> bool:
    if states.is_terminal(child.status):
        if child.status in (S.REJECTED.value, S.CANCELED.value):
            return False
        raise _Break(OUT_OF_ORDER, f"a reject of an order already {child.status}")
    why = report.reason or f"rejected by {report.venue}"
    was_new = child.status == S.SUBMITTED.value
    _end_child(child, S.REJECTED.value, why)
    if was_new and parent is not None:
        clock = get_clock()
        if _reroute(child, parent, why, clock, clock.market_now()):
            return True
    if child.parent_id:
        parent_settle(parent_id=child.parent_id)
    return True


def _pending(event: str):
    def handler(child, parent, portfolio, report) -> bool:
        if child.status not in states.RESTING:
            return False  # the desk asked for it and is pending already
        order_transition_locked(child, event, reason=f"{report.venue}: {report.reason or 'pending'}")
        return True
    return handler


def _expired(child, parent, portfolio, report) -> bool:
    if child.status == S.EXPIRED.value:
        return False
    why = f"expired at {report.venue} at {_when(report)}" + (f": {report.reason}" if report.reason else "")
    order_transition_locked(child, states.EXPIRED, reason=why, venue_ts=report.ts)
    _ended(child)
    return True


def _status(child, parent, portfolio, report) -> bool:
    """An answer to a status request: a terminal status the desk has not seen yet is applied."""
    if states.is_terminal(child.status) or not report.venue_status:
        return False
    handler = {S.CANCELED.value: _canceled, S.EXPIRED.value: _expired, S.REJECTED.value: _rejected}.get(report.venue_status)
    return handler(child, parent, portfolio, report) if handler else False


def _refused(pending: str, event: str, what: str):
    def handler(child, parent, portfolio, report) -> bool:
        if child.status != pending:
            return False  # a repeat, or overtaken by a fill that finished the order
        order_transition_locked(child, event, reason=f"{report.venue} refused the {what}: {report.reason or 'no reason given'}",
                                venue_ts=report.ts)
        if report.venue_status in (S.CANCELED.value, S.EXPIRED.value):  # it had already finished at the venue
            (_canceled if report.venue_status == S.CANCELED.value else _expired)(child, parent, portfolio, report)
        return True
    return handler


# -- busts and corrections


def _bust(child, parent, portfolio, report) -> bool:
    return _rebook(child, parent, portfolio, report, corrected=None)


def _correct(child, parent, portfolio, report) -> bool:
    return _rebook(child, parent, portfolio, report, corrected=report.fill)


def _rebook(child: Order, parent: Order | None, portfolio: Portfolio, report: VenueReport, *, corrected: FillReport | None) -> bool:
    original = Fill.objects.filter(trade_id=report.ref_trade_id).first()
    if original is None:
        raise _Break(OUT_OF_ORDER, f"no fill {report.ref_trade_id} to {'correct' if corrected else 'bust'}")
    if original.order_id != child.pk:
        raise _Break(OUT_OF_ORDER, f"fill {original.trade_id} is not this order's")
    if corrected is not None and Fill.objects.filter(trade_id=corrected.trade_id).exists():
        return False
    reversal_id = f"{original.trade_id}{BUST_SUFFIX}"
    if Fill.objects.filter(trade_id=reversal_id).exists():
        if corrected is None:
            return False  # busted already
        raise _Break(OUT_OF_ORDER, f"fill {original.trade_id} was busted; it cannot be corrected")
    ts = report.ts or original.ts_event
    qty, px = original.last_qty, original.last_px
    sign = 1 if child.side == "BUY" else -1
    position = Position.objects.select_for_update().get(portfolio=portfolio, instrument_id=child.instrument_id)
    before = (position.quantity, position.avg_cost, position.realised_pnl, position.fees)
    holds = _signed_fills(portfolio, child.instrument_id) == position.quantity  # a position is the sum of its fills
    reversal = Fill.objects.create(trade_id=reversal_id, order=child, venue_id=original.venue_id, last_qty=-qty, last_px=px,
                                   commission=-original.commission, liquidity_side=original.liquidity_side, ts_event=ts)
    cash = -apply_fill(quantity=Decimal(0), avg_cost=Decimal(0), signed_qty=sign * qty, px=px, commission=original.commission).cash_delta
    new_fill = None
    if corrected is not None:
        if corrected.last_qty <= 0 or corrected.last_px <= 0:
            raise _Break(IMPOSSIBLE, f"a correction to {corrected.last_qty} at {corrected.last_px}")
        new_fill = Fill.objects.create(trade_id=corrected.trade_id, order=child, venue_id=original.venue_id, last_qty=corrected.last_qty,
                                       last_px=corrected.last_px, commission=corrected.commission,
                                       liquidity_side=getattr(corrected.liquidity_side, "value", corrected.liquidity_side),
                                       ts_event=corrected.ts_event)
        cash += apply_fill(quantity=Decimal(0), avg_cost=Decimal(0), signed_qty=sign * corrected.last_qty, px=corrected.last_px,
                           commission=corrected.commission).cash_delta
    if holds:
        _replay_position(position, portfolio, child.instrument_id)
    else:  # a position not made of fills alone (seeded): undo at the fill's price, the best it can do
        for signed, p, c in [(-sign * qty, px, -original.commission)] + (
                [(sign * corrected.last_qty, corrected.last_px, corrected.commission)] if corrected else []):
            ch = apply_fill(quantity=position.quantity, avg_cost=position.avg_cost, signed_qty=signed, px=p, commission=Decimal(0))
            position.quantity, position.avg_cost = ch.quantity, ch.avg_cost
            position.realised_pnl += ch.realised
            position.fees += c
    position.save(update_fields=["quantity", "avg_cost", "realised_pnl", "fees", "updated_at"])
    reversal.realised_pnl = position.realised_pnl - before[2]
    reversal.save(update_fields=["realised_pnl"])
    portfolio.cash += cash
    portfolio.save(update_fields=["cash"])
    old_filled = child.filled_qty
    for order in [child] + ([parent] if parent is not None else []):
        _rebook_order(order)
    if child.filled_qty > child.quantity or child.filled_qty < 0:
        raise _Break(IMPOSSIBLE, f"rebooked filled {child.filled_qty} of {child.quantity}")
    what = "FILL_CORRECTED" if corrected else "FILL_BUSTED"
    changes = {"trade_id": original.trade_id, "filled_qty": {"old": _n(old_filled), "new": _n(child.filled_qty)},
               "position_qty": {"old": _n(before[0]), "new": _n(position.quantity)}}
    if new_fill is not None:
        changes["corrected_to"] = {"trade_id": new_fill.trade_id, "last_qty": _n(new_fill.last_qty), "last_px": _n(new_fill.last_px)}
    OrderEvent.objects.create(order=child, event=what, from_status=child.status, to_status=child.status, venue_ts=report.ts,
                              reason=f"{report.venue} {'corrected' if corrected else 'busted'} trade {original.trade_id}"
                                     f" ({_n(qty)} at {_n(px)})" + (f": {report.reason}" if report.reason else ""),
                              changes=changes)
    for order in [child] + ([parent] if parent is not None else []):
        event_publish(event_type="order.updated", payload=order_payload(order), groups=[groups.portfolio(order.portfolio_id)])
    return True


def _signed_fills(portfolio: Portfolio, instrument_id: int) -> Decimal:
    rows = Fill.objects.filter(order__portfolio=portfolio, order__instrument_id=instrument_id).values_list("order__side").annotate(q=Sum("last_qty"))
    return sum(((q or 0) * (1 if side == "BUY" else -1) for side, q in rows), Decimal(0))


def _replay_position(position: Position, portfolio: Portfolio, instrument_id: int) -> None:
    """The position rebuilt from its fills in the order they were booked, busted fills left out."""
    fills = list(Fill.objects.filter(order__portfolio=portfolio, order__instrument_id=instrument_id)
                 .order_by("id").values_list("trade_id", "order__side", "last_qty", "last_px", "commission"))
    busted = {t[: -len(BUST_SUFFIX)] for t, *_ in fills if t.endswith(BUST_SUFFIX)}
    q, c, realised, fees = Decimal(0), Decimal(0), Decimal(0), Decimal(0)
    for trade_id, side, qty, px, commission in fills:
        if trade_id.endswith(BUST_SUFFIX) or trade_id in busted:
            continue
        ch = apply_fill(quantity=q, avg_cost=c, signed_qty=qty if side == "BUY" else -qty, px=px, commission=commission)
        q, c, realised, fees = ch.quantity, ch.avg_cost, realised + ch.realised, fees + commission
    position.quantity, position.avg_cost, position.realised_pnl, position.fees = q, c, realised, fees


def _rebook_order(order: Order) -> None:
    """Filled quantity and average price from the fills (a reversal row cancels its fill exactly)."""
    qs = Fill.objects.filter(order__parent=order) if order.parent_id is None and not order.fills.exists() else order.fills
    qty, notional = Decimal(0), Decimal(0)
    for q, px in qs.values_list("last_qty", "last_px"):
        qty += q
        notional += q * px
    order.filled_qty = qty
    order.avg_px = (notional / qty).quantize(Decimal("0.000001")) if qty else None
    order.save(update_fields=["filled_qty", "avg_px", "updated_at"])


_HANDLERS = {
    "ACCEPTED": _accepted,
    "PENDING_NEW": _nothing,
    "FILL": _fill,
    "CANCELED": _canceled,
    "REPLACED": _replaced,
    "REJECTED": _rejected,
    "PENDING_CANCEL": _pending(states.PENDING_CANCEL),
    "PENDING_UPDATE": _pending(states.PENDING_UPDATE),
    "EXPIRED": _expired,
    "STATUS": _status,
    "CANCEL_REFUSED": _refused(S.PENDING_CANCEL.value, states.CANCEL_REJECTED, "cancel"),
    "REPLACE_REFUSED": _refused(S.PENDING_UPDATE.value, states.MODIFY_REJECTED, "replace"),
    "BUST": _bust,
    "CORRECT": _correct,
}


__all__ = ["KINDS", "ReportBreak", "ReportOutcome", "VenueReport", "report_apply"]
