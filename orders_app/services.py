"""Order and fill services: the only writers of orders, fills, positions and cash.

Locking order (always the same, so two writers cannot deadlock):
portfolio row -> order rows (parent before child) -> position row.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from desk.bulk import Writes
from desk.lifecycle import transition
from desk.errors import Conflict
from desk import metrics

from desk import groups
from desk.events import event_publish
from desk.interfaces import FillReport
from desk.money import price as to_price
from orders_app import states
from orders_app.models import Fill, Order, OrderEvent, Venue
from orders_app.releases import exposure_release_on_commit
from orders_app.reservations import reservation_on_fill, reservation_on_transition
from portfolio_app.accounting import apply_fill
from portfolio_app.models import Portfolio, Position


log = structlog.get_logger("desk.orders")


class OrderError(Conflict, ValueError):
    """A request about an order that cannot be carried out, with a readable reason."""


def order_payload(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "client_order_id": order.client_order_id,
        "parent_id": order.parent_id,
        "portfolio_id": order.portfolio_id,
        "symbol": order.instrument.symbol if "instrument" in order._state.fields_cache else None,
        "instrument_id": order.instrument_id,
        "side": order.side,
        "quantity": order.quantity,
        "filled_qty": order.filled_qty,
        "avg_px": order.avg_px,
        "status": order.status,
        "algo": order.algo,
        "venue_id": order.venue_id,
        "reason": order.reason,
        "proposal_id": order.proposal_id,
    }


def _publish_order(order: Order) -> None:
    writes = _writes.get()
    if writes is not None:
        latest = writes.pushes.get(order.pk)
        if latest is not None:  # already pushed at this commit: the push carries what the order is when it commits
            latest.payload = order_payload(order)
            return
        latest = writes.pushes[order.pk] = _Latest(order_payload(order))
        event_publish(event_type="order.updated", payload=latest, groups=[groups.portfolio(order.portfolio_id)])
        return
    event_publish(event_type="order.updated", payload=order_payload(order), groups=[groups.portfolio(order.portfolio_id)])


class _Latest(Mapping):
    """An ``order.updated`` payload that a later move in the same transaction replaces: browsers get each order once
    per commit, as committed (the moves in between were never visible to anyone), in the place of its first push."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def __getitem__(self, key):
        return self.payload[key]

    def __iter__(self):
        return iter(self.payload)

    def __len__(self) -> int:
        return len(self.payload)


def order_create(
    *,
    client_order_id: str,
    portfolio_id: int,
    instrument_id: int,
    side: str,
    quantity: Decimal,
    order_type: str = "MARKET",
    limit_price: Decimal | None = None,
    time_in_force: str = "DAY",
    algo: str = "IMMEDIATE",
    algo_params: dict | None = None,
    parent_id: int | None = None,
    proposal_id: int | None = None,
    venue_id: int | None = None,
    due_at: datetime | None = None,
    arrival_px: Decimal | None = None,
    created_by=None,
) -> tuple[Order, bool]:
    """Persist an order in INITIALIZED, idempotent on ``client_order_id``: ``(order, created)``.

    A second call with the same id returns the stored order and creates nothing, so a
    redelivered task or a retried request cannot place an order twice.
    """
    if quantity <= 0:
        raise OrderError(f"quantity must be positive, not {quantity}")
    existing = Order.objects.filter(client_order_id=client_order_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            order = Order.objects.create(
                client_order_id=client_order_id,
                portfolio_id=portfolio_id,
                instrument_id=instrument_id,
                side=side,
                quantity=quantity,
                order_type=order_type,
                limit_price=limit_price,
                time_in_force=time_in_force,
                algo=algo,
                algo_params=algo_params or {},
                parent_id=parent_id,
                proposal_id=proposal_id,
                venue_id=venue_id,
                due_at=due_at,
                arrival_px=arrival_px,
                created_by=created_by,
            )
            OrderEvent.objects.create(order=order, event="INITIALIZED", from_status="", to_status=order.status, actor=created_by)
    except IntegrityError:
        # Lost a race with an identical request: the winner's order is the order.
        return Order.objects.get(client_order_id=client_order_id), False
    _publish_order(order)
    return order, True


def order_insert(order: Order, event: str, *, actor=None, reason: str = "") -> Order:
    """Store a new order (unsaved ``order``, INITIALIZED) at the status its state machine gives ``event`` from
    INITIALIZED, with both events (INITIALIZED, then ``event``) in one insert: what ``order_create`` followed by
    ``order_apply_event`` would store, in two queries instead of five. Published after commit."""
    start = order.status
    new_status, new_previous = states.order_next(start, event, previous="", quantity=order.quantity)
    order.status, order.previous_status = new_status, new_previous
    if reason and event in (states.DENIED, states.REJECTED, states.CANCELED, states.EXPIRED):
        order.reason = reason
    with transition(Order.LIFECYCLE):
        order.save(force_insert=True)
    OrderEvent.objects.bulk_create([
        OrderEvent(order=order, event="INITIALIZED", from_status="", to_status=start, actor=actor),
        OrderEvent(order=order, event=event, from_status=start, to_status=new_status, actor=actor, reason=reason),
    ])
    transaction.on_commit(lambda: metrics.orders.labels(new_status).inc())
    log.info("order.transition", client_order_id=order.client_order_id, order_event=event, from_status=start, to_status=new_status)
    _publish_order(order)
    return order


class OrderWrites:
    """The order rows and events that a run of moves on locked orders changed, written once (``order_writes_batched``)."""

    def __init__(self) -> None:
        self.orders: dict[int, tuple[Order, set[str]]] = {}
        self.events: list[OrderEvent] = []
        self.pushes: dict[int, _Latest] = {}  # kept over flushes: one transaction's pushes

    def changed(self, order: Order, fields) -> None:
        held = self.orders.get(order.pk)
        if held is not None and held[0] is not order:  # another instance of the row (read afresh): write the first one's first
            self.flush()
            held = None
        if held is None:
            held = self.orders[order.pk] = (order, set())
        held[1].update(fields)

    def flush(self) -> None:
        """The changed orders (each of the fields its moves changed) and all the events, written in one statement on
        PostgreSQL (``desk.bulk.Writes``: an UPDATE per set of fields, the events' INSERT)."""
        orders, events = list(self.orders.values()), self.events
        self.orders, self.events = {}, []
        if not orders and not events:
            return
        now, w = timezone.now(), Writes()
        groups: dict[tuple[str, ...], list[Order]] = {}
        for order, fields in orders:
            order.updated_at = now
            groups.setdefault(tuple(sorted(fields | {"updated_at"})), []).append(order)
        with transition(Order.LIFECYCLE):  # every status move was the state machine's (``_transition``)
            for fields, objs in groups.items():
                w.update(Order, objs, fields)
        w.insert(OrderEvent, events)
        w.run()
        for order, _ in orders:  # as ``save`` leaves them: what a later save compares the guarded fields with
            order._guarded_loaded = {f: order.__dict__[f] for f in Order.guarded_fields if f in order.__dict__}


_writes: contextvars.ContextVar[OrderWrites | None] = contextvars.ContextVar("desk_order_writes", default=None)


@contextmanager
def order_writes_batched() -> Iterator[None]:
    """Inside (and inside the caller's transaction, holding the orders' locks), the moves of locked orders change the
    rows in hand and record their events; each changed order is written once and the events inserted together on the
    way out, or at ``order_writes_flush``, which every reader of order rows from the database calls first
    (``order_apply_event``, ``working.parent_settle``). The state machine, metrics and logs are those of each move, as
    without it; an order's ``order.updated`` push is sent once after commit, with what the order is then. An exception
    leaves nothing to write (its transaction rolls back). Nested: the outer writes."""
    if _writes.get() is not None:
        yield
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_writes_batched: inside a transaction only (its writes and pushes are the transaction's)")
    writes = OrderWrites()
    token = _writes.set(writes)
    try:
        yield
        writes.flush()
    finally:
        _writes.reset(token)


def order_writes_flush() -> None:
    """Write what ``order_writes_batched`` holds now (before reading order rows or events from the database)."""
    writes = _writes.get()
    if writes is not None:
        writes.flush()


def order_events_add(events: list[OrderEvent]) -> None:
    """Record ``events`` (of orders created in hand, such as their INITIALIZED): with the batch's events, else now."""
    writes = _writes.get()
    if writes is not None:
        writes.events.extend(events)
    elif events:
        OrderEvent.objects.bulk_create(events)


def order_fields_save(order: Order, fields) -> None:
    """Save ``fields`` of a locked order that are not its status (``wake_at``, ``work_seq``, ``sent_at``): with the
    order's other changes when they are batched, else now."""
    writes = _writes.get()
    if writes is not None:
        writes.changed(order, fields)
    else:
        order.save(update_fields=list(fields))


def order_transition_locked(order: Order, event: str, *, actor=None, reason: str = "", extra_fields=(), venue_ts=None) -> Order:
    """``order_apply_event`` for a row the caller has already locked in this transaction."""
    return _transition(order, event, actor=actor, reason=reason, extra_fields=extra_fields, venue_ts=venue_ts)


def _transition(order: Order, event: str, *, actor=None, reason: str = "", extra_fields=(), changes=None,
                venue_ts=None) -> Order:
    """Apply ``event`` to a row the caller has locked; record and publish it."""
    new_status, new_previous = states.order_next(
        order.status, event, previous=order.previous_status, filled_qty=order.filled_qty, quantity=order.quantity
    )
    from_status = order.status
    extra_fields = [*extra_fields, *reservation_on_transition(order, new_status)]
    order.status, order.previous_status = new_status, new_previous
    if reason and event in (states.DENIED, states.REJECTED, states.CANCELED, states.EXPIRED, states.MODIFY_REJECTED, states.CANCEL_REJECTED):
        order.reason = reason
    writes = _writes.get()
    if writes is not None:
        writes.changed(order, ["status", "previous_status", "reason", "updated_at", *extra_fields])
        writes.events.append(OrderEvent(order=order, event=event, from_status=from_status, to_status=new_status, actor=actor,
                                        reason=reason, changes=changes or {}, venue_ts=venue_ts))
    else:
        with transition(Order.LIFECYCLE):
            order.save(update_fields=["status", "previous_status", "reason", "updated_at", *extra_fields])
        OrderEvent.objects.create(order=order, event=event, from_status=from_status, to_status=new_status, actor=actor,
                                  reason=reason, changes=changes or {}, venue_ts=venue_ts)
    if new_status != from_status:
        transaction.on_commit(lambda: metrics.orders.labels(new_status).inc())
    exposure_release_on_commit(order, event)
    log.info("order.transition", client_order_id=order.client_order_id, order_event=event, from_status=from_status, to_status=new_status)
    _publish_order(order)
    return order


@transaction.atomic
def order_apply_event(*, order_id: int, event: str, actor=None, reason: str = "", venue_ts=None, **changes) -> Order:
    """Move an order through its state machine, locking its row (``select_for_update``).

    ``changes`` may carry amended ``quantity`` / ``limit_price`` with an ``UPDATED`` event,
    or ``sent_at`` / ``venue_id`` with ``SUBMITTED`` / ``ACCEPTED``; ``venue_ts`` is when the venue
    confirmed it (a cancel or replace), kept on the event.
    Raises ``states.IllegalTransition`` (nothing changes) when the event is not allowed.
    """
    order_writes_flush()  # the row is read afresh: what a batch holds is written first
    order = Order.objects.select_for_update().get(pk=order_id)
    allowed = {"quantity", "limit_price", "sent_at", "venue_id", "arrival_px", "due_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise OrderError(f"cannot change {', '.join(sorted(unknown))} with an event")
    if "quantity" in changes and changes["quantity"] < order.filled_qty:
        raise OrderError(f"cannot amend quantity below the filled {order.filled_qty}")
    amended = {
        name: {"old": _plain(getattr(order, name)), "new": _plain(value)}
        for name, value in changes.items() if name in AMENDABLE and getattr(order, name) != value
    }
    for name, value in changes.items():
        setattr(order, name, value)
    return _transition(order, event, actor=actor, reason=reason, extra_fields=list(changes), changes=amended, venue_ts=venue_ts)


# An amend's record keeps these, old and new (Decimal as text, exact).
AMENDABLE = ("quantity", "limit_price")


def _plain(value) -> str | None:
    return None if value is None else (format(value.normalize(), "f") if isinstance(value, Decimal) else str(value))


@dataclass(frozen=True)
class FillOutcome:
    fill: Fill
    created: bool


def _avg(old_qty: Decimal, old_px: Decimal | None, qty: Decimal, px: Decimal) -> Decimal:
    if old_qty == 0 or old_px is None:
        return to_price(px)
    return to_price((old_qty * old_px + qty * px) / (old_qty + qty))


def _fill_order_row(order: Order, qty: Decimal, px: Decimal) -> None:
    released = reservation_on_fill(order, qty)
    order.avg_px = _avg(order.filled_qty, order.avg_px, qty, px)
    order.filled_qty = order.filled_qty + qty
    _transition(order, states.FILLED, extra_fields=["filled_qty", "avg_px", *released])


@transaction.atomic
def fill_apply(*, order_id: int, report: FillReport) -> FillOutcome:
    """Record a fill and everything it moves, in one transaction; once per ``trade_id``.

    Locks the portfolio row (serialising every fill and pre-trade check of one
    portfolio), the order (and its parent) and the position. A second delivery of
    the same ``trade_id`` returns the stored fill and changes nothing.
    """
    head = Order.objects.filter(pk=order_id).values("portfolio_id", "parent_id").first()
    if head is None:
        raise OrderError(f"no order {order_id}")
    portfolio = Portfolio.objects.select_for_update().get(pk=head["portfolio_id"])
    existing = Fill.objects.filter(trade_id=report.trade_id).first()
    if existing is not None:
        return FillOutcome(existing, False)
    parent = Order.objects.select_for_update().get(pk=head["parent_id"]) if head["parent_id"] else None
    order = Order.objects.select_for_update(of=("self",)).select_related("instrument", "venue").get(pk=order_id)
    return FillOutcome(fill_apply_locked(portfolio=portfolio, order=order, parent=parent, report=report), True)


def fill_apply_locked(*, portfolio: Portfolio, order: Order, parent: Order | None, report: FillReport) -> Fill:
    """The body of ``fill_apply`` for a caller that already holds, in this transaction, the
    rows it locks (portfolio, parent, order; the position is locked here) and has checked
    that ``report.trade_id`` is new. Updates ``portfolio``, ``order`` and ``parent`` in place."""
    qty, px = Decimal(report.last_qty), Decimal(report.last_px)
    if qty <= 0:
        raise OrderError(f"fill {report.trade_id}: quantity must be positive")
    if order.filled_qty + qty > order.quantity:
        raise OrderError(f"fill {report.trade_id}: {qty} would overfill {order.client_order_id} ({order.filled_qty}/{order.quantity})")

    position = Position.objects.select_for_update().filter(portfolio=portfolio, instrument_id=order.instrument_id).first()
    if position is None:
        position, _ = Position.objects.select_for_update().get_or_create(portfolio=portfolio, instrument_id=order.instrument_id)
    signed = qty if order.side == "BUY" else -qty
    change = apply_fill(quantity=position.quantity, avg_cost=position.avg_cost, signed_qty=signed, px=px, commission=report.commission)
    position.quantity, position.avg_cost = change.quantity, change.avg_cost
    position.realised_pnl += change.realised
    position.fees += Decimal(report.commission)
    position.save(update_fields=["quantity", "avg_cost", "realised_pnl", "fees", "updated_at"])
    portfolio.cash += change.cash_delta
    portfolio.save(update_fields=["cash"])

    if not report.venue:
        venue_id = None
    elif order.venue_id and "venue" in order._state.fields_cache and order.venue.code == report.venue:
        venue_id = order.venue_id
    else:
        venue_id = Venue.objects.filter(code=report.venue).values_list("id", flat=True).first()
    fill = Fill.objects.create(
        trade_id=report.trade_id,
        order=order,
        venue_id=venue_id,
        last_qty=qty,
        last_px=to_price(px),
        commission=Decimal(report.commission),
        liquidity_side=report.liquidity_side.value if hasattr(report.liquidity_side, "value") else report.liquidity_side,
        realised_pnl=change.realised,
        ts_event=report.ts_event,
    )
    _fill_order_row(order, qty, px)
    venue_label, notional = report.venue or "none", float(qty * px)
    latency = max(0.0, (timezone.now() - order.created_at).total_seconds())

    def count():
        metrics.fills.labels(venue_label).inc()
        metrics.filled_notional.labels(venue_label).inc(notional)
        metrics.order_to_fill.observe(latency)

    transaction.on_commit(count)
    log.info("fill.applied", client_order_id=order.client_order_id, trade_id=report.trade_id, qty=str(qty), px=str(px), venue=report.venue)
    if parent is not None:
        _fill_order_row(parent, qty, px)
    event_publish(
        event_type="fill.created",
        payload={
            "trade_id": fill.trade_id,
            "order_id": order.pk,
            "parent_id": order.parent_id,
            "client_order_id": order.client_order_id,
            "portfolio_id": portfolio.pk,
            "symbol": order.instrument.symbol,
            "side": order.side,
            "last_qty": fill.last_qty,
            "last_px": fill.last_px,
            "commission": fill.commission,
            "venue": report.venue,
            "ts_event": fill.ts_event,
            "position_qty": position.quantity,
            "cash": portfolio.cash,
        },
        groups=[groups.portfolio(portfolio.pk)],
    )
    return fill


# The rest of the order services live in their own modules (each under ~400 lines):
# submitting, placing, cancelling and amending in ``submission``; slicing, routing,
# working child orders and settling parents in ``working``. Importable from here too.
_ELSEWHERE = {
    "order_submit": "orders_app.submission",
    "order_place": "orders_app.submission",
    "check_order_place": "orders_app.submission",
    "order_cancel": "orders_app.submission",
    "orders_cancel_all": "orders_app.submission",
    "order_amend": "orders_app.submission",
    "OrderValidationError": "orders_app.submission",
    "OrderPermissionError": "orders_app.submission",
    "order_route": "orders_app.working",
    "child_work": "orders_app.working",
    "parent_settle": "orders_app.working",
    "proposal_settle": "orders_app.working",
    "orders_sweep": "orders_app.working",
}


def __getattr__(name: str):
    # Resolved on first use so that ``working`` and ``submission`` may import this module.
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
