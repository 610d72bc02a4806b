"""Many venue reports applied in one transaction (services): ``reports.report_apply`` for a batch.

A venue that reports by push (the FIX gateway) hands over what it has received at once. The common
reports - an acknowledgement, a fill, a pending new - are applied here with the rows they need read
once for the whole run of them (portfolios, orders, positions and the fills already booked: one query
each, the writes' rows locked) and written once (fills and order events inserted together; orders,
positions and cash updated together). Every other kind goes through ``report_apply`` in a savepoint of
its own, in its place: the rows in hand are written before it and read again after it.

The rules are the one-report path's: the order state machine (``states.order_next``), average cost
(``apply_fill``), the reservations, the venue's view checked after each report (``reports._check``).
Each report is applied whole or not at all: one that breaks is undone in hand (nothing of it was
written) and returned as its ``ReportBreak``; the rest of the batch applies. Pushes to the browsers
and metrics happen after commit, in report order.

Locking order as everywhere: portfolio rows -> order rows (by id: a parent before its children) ->
position rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import structlog
from django.db import transaction
from django.utils import timezone

from desk import groups, metrics
from desk.bulk import Writes, rows_update
from desk.events import event_publish
from desk.interfaces import OrderStatus
from desk.lifecycle import transition
from desk.money import price as to_price
from orders_app import states
from orders_app.models import Fill, Order, OrderEvent, Venue
from orders_app.releases import RELEASING
from orders_app.reports import IMPOSSIBLE, KINDS, OUT_OF_ORDER, ReportBreak, ReportOutcome, VenueReport, _check, report_apply
from orders_app.reservations import reservation_on_fill, reservation_on_transition
from orders_app.services import OrderError, _avg, order_payload
from orders_app.working import parent_settle
from portfolio_app.accounting import apply_fill
from portfolio_app.models import Portfolio, Position

log = structlog.get_logger("desk.orders")

# The kinds applied in bulk; their moves (ACCEPTED, FILLED) release no exposure and set no reason.
FAST = frozenset({"ACCEPTED", "PENDING_NEW", "FILL"})
ACKS = frozenset({"ACCEPTED", "PENDING_NEW"})  # of FAST, the kinds that change the order row alone
assert not {states.ACCEPTED, states.FILLED} & RELEASING

_ORDER_FIELDS = ("status", "previous_status", "filled_qty", "avg_px", "reserved_cash", "wake_at")
_POSITION_FIELDS = ("quantity", "avg_cost", "realised_pnl", "fees")


@dataclass(frozen=True)
class Item:
    """One report about child ``order_id``; ``head`` its (portfolio id, parent id) when the caller knows them."""

    order_id: int
    report: VenueReport
    head: tuple[int, int | None] | None = None


def reports_apply_many(*, items: Sequence[Item], writes: Writes | None = None,
                       orders: dict[int, Order] | None = None) -> list[ReportOutcome | ReportBreak]:
    """Apply ``items`` in order inside the caller's transaction; per item its outcome, or the break that left it unapplied.

    Locks the portfolios, orders and positions the reports touch until the caller commits. ``writes`` (the
    caller's own, about other rows) are made with the first run's writes, in the same statement; ``orders``
    are rows the caller has locked already (``select_for_update``, with their instrument and venue).
    """
    for it in items:
        if it.report.kind not in KINDS:
            raise ValueError(f"unknown report kind {it.report.kind!r}")
    # A batch of acknowledgements only changes no portfolio: it locks none (a fill, or a report applied alone, does,
    # before any order row: a batch that holds one locks them all first, as everywhere).
    book = _Book(lock_portfolios=any(it.report.kind not in ACKS for it in items))
    if orders:
        book.orders.update(orders)
    out: list[ReportOutcome | ReportBreak] = []
    with transaction.atomic(savepoint=False):
        i = 0
        while i < len(items):
            j = i
            while j < len(items) and items[j].report.kind in FAST:
                j += 1
            if j > i:
                run = items[i:j]
                book.load(run)
                out.extend(book.apply(it) for it in run)
                book.flush(writes)
                i = j
                continue
            out.append(_alone(items[i]))
            book.forget()  # what it changed is read again
            i += 1
    return out


def _alone(it: Item) -> ReportOutcome | ReportBreak:
    try:
        with transaction.atomic():  # a savepoint: a break undoes this report only
            return report_apply(order_id=it.order_id, report=it.report, head=it.head)
    except ReportBreak as b:
        return b


class _Book:
    """The rows a run of reports works on, locked and in hand, and what they changed, written by ``flush``."""

    def __init__(self, *, lock_portfolios: bool = True):
        self.lock_portfolios = lock_portfolios
        self.portfolios: dict[int, Portfolio] = {}
        self.orders: dict[int, Order] = {}
        self.positions: dict[tuple[int, int], Position] = {}
        self.heads: dict[int, tuple[int, int | None]] = {}
        self.booked: set[str] = set()  # trade ids known to be booked
        self.venues: dict[str, int | None] = {}
        self._reset_changes()

    def _reset_changes(self) -> None:
        self.dirty_orders: dict[int, Order] = {}
        self.dirty_positions: dict[int, Position] = {}
        self.dirty_portfolios: dict[int, Portfolio] = {}
        self.fills: list[Fill] = []
        self.events: list[OrderEvent] = []
        self.pushes: list[tuple[str, dict, list[str]]] = []
        self.counts: list[tuple] = []
        self.settle: dict[int, None] = {}  # parents whose child ended, in order

    def forget(self) -> None:
        """Drop the rows in hand (still locked) and the fills known: the next run reads them again."""
        self.portfolios, self.orders, self.positions, self.booked = {}, {}, {}, set()

    # -- reading

    def load(self, run: Sequence[Item]) -> None:
        """Lock and read what ``run`` needs that is not in hand: one query per kind of row."""
        unknown = [it.order_id for it in run if it.head is None and it.order_id not in self.heads]
        if unknown:
            for pk, portfolio_id, parent_id in Order.objects.filter(pk__in=unknown).values_list("pk", "portfolio_id", "parent_id"):
                self.heads[pk] = (portfolio_id, parent_id)
        for it in run:
            if it.head is not None:
                self.heads[it.order_id] = it.head
        heads = [self.heads[it.order_id] for it in run if it.order_id in self.heads]
        portfolio_ids = sorted({p for p, _ in heads} - set(self.portfolios)) if self.lock_portfolios else []
        if portfolio_ids:
            self.portfolios.update((p.pk, p) for p in Portfolio.objects.select_for_update().filter(pk__in=portfolio_ids).order_by("pk"))
        order_ids = sorted(({it.order_id for it in run} | {parent for _, parent in heads if parent}) - set(self.orders))
        if order_ids:
            self.orders.update((o.pk, o) for o in Order.objects.select_for_update(of=("self",)).select_related("instrument", "venue")
                               .filter(pk__in=order_ids).order_by("pk"))
        trades = [it.report.fill for it in run if it.report.kind == "FILL" and it.report.fill is not None]
        ask = {f.trade_id for f in trades} - self.booked
        if ask:
            self.booked.update(Fill.objects.filter(trade_id__in=ask).values_list("trade_id", flat=True))
        keys = {(o.portfolio_id, o.instrument_id) for o in (self.orders.get(it.order_id) for it in run if it.report.kind == "FILL")
                if o is not None} - set(self.positions)
        if keys:
            rows = Position.objects.select_for_update().filter(portfolio_id__in={p for p, _ in keys},
                                                               instrument_id__in={i for _, i in keys}).order_by("pk")
            self.positions.update(((p.portfolio_id, p.instrument_id), p) for p in rows)

    def _position(self, order: Order) -> Position:
        key = (order.portfolio_id, order.instrument_id)
        if key not in self.positions:  # the portfolio's first fill in it
            self.positions[key], _ = Position.objects.select_for_update().get_or_create(portfolio_id=key[0], instrument_id=key[1])
        return self.positions[key]

    def _venue_id(self, order: Order, code: str) -> int | None:
        if not code:
            return None
        if order.venue_id and order.venue.code == code:
            return order.venue_id
        if code not in self.venues:
            self.venues[code] = Venue.objects.filter(code=code).values_list("id", flat=True).first()
        return self.venues[code]

    # -- applying, in hand

    def apply(self, it: Item) -> ReportOutcome | ReportBreak:
        order = self.orders.get(it.order_id)
        if order is None:
            return ReportBreak(OUT_OF_ORDER, f"no order {it.order_id}", order_id=it.order_id)
        if self.lock_portfolios and order.portfolio_id not in self.portfolios:  # a head the caller had wrong: lock it now
            self.portfolios[order.portfolio_id] = Portfolio.objects.select_for_update().get(pk=order.portfolio_id)
        if order.parent_id and order.parent_id not in self.orders:
            self.orders[order.parent_id] = Order.objects.select_for_update(of=("self",)).get(pk=order.parent_id)
        parent = self.orders.get(order.parent_id) if order.parent_id else None
        portfolio = self.portfolios.get(order.portfolio_id)  # None in a batch of acknowledgements only
        status, report = order.status, it.report
        undo = _Undo(self, order, parent, portfolio)
        try:
            changed = self._fill(order, parent, portfolio, report, undo) if report.kind == "FILL" else self._accepted(order, report)
            _check(order, report)
        except ReportBreak as b:
            undo.restore()
            b.order_id, b.status = order.pk, status
            return b
        except states.IllegalTransition as exc:
            undo.restore()
            return ReportBreak(OUT_OF_ORDER, f"{report.kind} on an order {status}: {exc}", order_id=order.pk, status=status)
        except OrderError as exc:
            undo.restore()
            return ReportBreak(IMPOSSIBLE, str(exc), order_id=order.pk, status=status)
        return ReportOutcome(order.pk, order.status, noop=not changed)

    def _accepted(self, order: Order, report: VenueReport) -> bool:
        if report.kind != "ACCEPTED" or order.status != OrderStatus.SUBMITTED.value:
            return False  # a pending new; or already past it (a repeat, or the fill came first)
        self._move(order, states.ACCEPTED, venue_ts=report.ts)
        return True

    def _fill(self, order: Order, parent: Order | None, portfolio: Portfolio, report: VenueReport, undo: "_Undo") -> bool:
        """``fill_apply_locked``, in hand."""
        f = report.fill
        if f.trade_id in self.booked:
            return False
        if states.is_terminal(order.status):
            raise ReportBreak(OUT_OF_ORDER, f"a fill on an order already {order.status}")
        qty, px = Decimal(f.last_qty), Decimal(f.last_px)
        if qty <= 0:
            raise OrderError(f"fill {f.trade_id}: quantity must be positive")
        if order.filled_qty + qty > order.quantity:
            raise OrderError(f"fill {f.trade_id}: {qty} would overfill {order.client_order_id} ({order.filled_qty}/{order.quantity})")
        position = self._position(order)
        undo.keep(position, _POSITION_FIELDS)
        change = apply_fill(quantity=position.quantity, avg_cost=position.avg_cost, signed_qty=qty if order.side == "BUY" else -qty,
                            px=px, commission=f.commission)
        position.quantity, position.avg_cost = change.quantity, change.avg_cost
        position.realised_pnl += change.realised
        position.fees += Decimal(f.commission)
        portfolio.cash += change.cash_delta
        self.dirty_positions[position.pk] = position
        self.dirty_portfolios[portfolio.pk] = portfolio
        fill = Fill(trade_id=f.trade_id, order=order, venue_id=self._venue_id(order, f.venue), last_qty=qty, last_px=to_price(px),
                    commission=Decimal(f.commission), liquidity_side=getattr(f.liquidity_side, "value", f.liquidity_side),
                    realised_pnl=change.realised, ts_event=f.ts_event)
        self.fills.append(fill)
        self.booked.add(f.trade_id)
        undo.booked(f.trade_id)
        self._fill_row(order, qty, px)
        self.counts.append((f.venue or "none", float(qty * px), max(0.0, (timezone.now() - order.created_at).total_seconds())))
        log.info("fill.applied", client_order_id=order.client_order_id, trade_id=f.trade_id, qty=str(qty), px=str(px), venue=f.venue)
        if parent is not None:
            self._fill_row(parent, qty, px)
        self.pushes.append(("fill.created", {
            "trade_id": fill.trade_id, "order_id": order.pk, "parent_id": order.parent_id, "client_order_id": order.client_order_id,
            "portfolio_id": portfolio.pk, "symbol": order.instrument.symbol, "side": order.side, "last_qty": fill.last_qty,
            "last_px": fill.last_px, "commission": fill.commission, "venue": f.venue, "ts_event": fill.ts_event,
            "position_qty": position.quantity, "cash": portfolio.cash,
        }, [groups.portfolio(portfolio.pk)]))
        if states.is_terminal(order.status):
            if order.wake_at is not None:  # a child sent to a venue that reports by push has no task waiting
                order.wake_at = None
            if order.parent_id:
                self.settle[order.parent_id] = None
        return True

    def _fill_row(self, order: Order, qty: Decimal, px: Decimal) -> None:
        reservation_on_fill(order, qty)
        order.avg_px = _avg(order.filled_qty, order.avg_px, qty, px)
        order.filled_qty = order.filled_qty + qty
        self._move(order, states.FILLED)

    def _move(self, order: Order, event: str, *, venue_ts=None) -> None:
        """``services._transition`` in hand: the state machine's move, its event row, metric, log and push."""
        new_status, new_previous = states.order_next(order.status, event, previous=order.previous_status,
                                                     filled_qty=order.filled_qty, quantity=order.quantity)
        from_status = order.status
        reservation_on_transition(order, new_status)
        order.status, order.previous_status = new_status, new_previous
        self.dirty_orders[order.pk] = order
        self.events.append(OrderEvent(order=order, event=event, from_status=from_status, to_status=new_status, venue_ts=venue_ts))
        if new_status != from_status:
            self.counts.append((new_status,))
        log.info("order.transition", client_order_id=order.client_order_id, order_event=event, from_status=from_status,
                 to_status=new_status)
        self.pushes.append(("order.updated", order_payload(order), [groups.portfolio(order.portfolio_id)]))

    # -- writing

    def flush(self, writes: Writes | None = None) -> None:
        """Write what the run changed (one statement on PostgreSQL, with ``writes``), push after commit, then settle
        the parents it finished."""
        now = timezone.now()
        w = writes if writes is not None else Writes()
        w.insert(Fill, self.fills)
        w.insert(OrderEvent, self.events)
        if self.dirty_orders:
            for o in self.dirty_orders.values():
                o.updated_at = now
            with transition(Order.LIFECYCLE):  # the moves were the state machine's (``_move``)
                w.update(Order, list(self.dirty_orders.values()), [*_ORDER_FIELDS, "updated_at"])
        if self.dirty_positions:
            for p in self.dirty_positions.values():
                p.updated_at = now
            w.update(Position, list(self.dirty_positions.values()), [*_POSITION_FIELDS, "updated_at"])
        if self.dirty_portfolios:
            w.update(Portfolio, list(self.dirty_portfolios.values()), ["cash"])
        w.run()
        counts = self.counts
        if counts:
            transaction.on_commit(lambda: _count(counts))
        for event_type, payload, to in self.pushes:
            event_publish(event_type=event_type, payload=payload, groups=to)
        settle = [pid for pid in self.settle if not self._settled(pid)]
        self._reset_changes()
        for pid in settle:  # reads the children as written: after the writes
            parent_settle(parent_id=pid)
        if settle:
            self.forget()

    def _settled(self, parent_id: int) -> bool:
        """A parent ``parent_settle`` would leave as it is: finished, with no proposal to complete."""
        parent = self.orders.get(parent_id)
        return parent is not None and states.is_terminal(parent.status) and not parent.proposal_id


def _count(counts: list[tuple]) -> None:
    for c in counts:
        if len(c) == 1:
            metrics.orders.labels(c[0]).inc()
        else:
            venue, notional, latency = c
            metrics.fills.labels(venue).inc()
            metrics.filled_notional.labels(venue).inc(notional)
            metrics.order_to_fill.observe(latency)


class _Undo:
    """What one report changed in hand, to put back when it breaks (nothing of it is written yet)."""

    def __init__(self, book: _Book, order: Order, parent: Order | None, portfolio: Portfolio):
        self.book = book
        self.saved: list[tuple[object, dict]] = []
        self.trades: list[str] = []
        self.lengths = (len(book.fills), len(book.events), len(book.pushes), len(book.counts), dict(book.settle))
        self.keep(order, (*_ORDER_FIELDS, "reason"))
        if parent is not None:
            self.keep(parent, (*_ORDER_FIELDS, "reason"))
        if portfolio is not None:
            self.keep(portfolio, ("cash",))

    def keep(self, obj, fields) -> None:
        self.saved.append((obj, {f: getattr(obj, f) for f in fields}))

    def booked(self, trade_id: str) -> None:
        self.trades.append(trade_id)

    def restore(self) -> None:
        for obj, values in self.saved:
            for f, v in values.items():
                setattr(obj, f, v)
        b = self.book
        nf, ne, np_, nc, settle = self.lengths
        del b.fills[nf:], b.events[ne:], b.pushes[np_:], b.counts[nc:]
        b.settle = settle
        b.booked.difference_update(self.trades)


__all__ = ["FAST", "Item", "reports_apply_many", "rows_update"]
