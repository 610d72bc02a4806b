"""Submitting, placing, cancelling and amending orders (services).

``order_submit`` is what every order goes through after ``order_create`` — a trader's
manual order here, an approved proposal's orders from portfolio: the pre-trade
checks run with the portfolio row locked, the order becomes SUBMITTED (and its
routing task is enqueued after commit) or DENIED with the checks' reasons.

Locking order: portfolio row -> parent -> children (as in ``orders_app.services``).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from desk import ports
from desk.compiled import CompiledQuery, fields_of
from desk.errors import Conflict, Forbidden, Invalid
from desk import roles
from market_app.clock import get_clock
from desk.interfaces import ConfigError, OrderStatus, OrderType, Side, TimeInForce
from orders_app.selectors import may_cancel_orders, may_trade_portfolio
from orders_app import dispatch, states
from orders_app.algos import ALGOS, get_algo
from orders_app.bulk_cancel import orders_cancel_bulk
from market_app.marks import market_state, session_at, session_market
from orders_app.models import Order
from orders_app.states import OPEN_STATUSES
from orders_app.releases import releases_batched
from orders_app.reservations import reservation_hold, reservation_requantify, reservation_set
from orders_app.services import OrderError, order_apply_event, order_create, order_insert, order_transition_locked
from orders_app.working import _lock, _lock_all, child_client_id, intent_of, parent_settle, venue_cancel, venue_replace, wall_for

S = OrderStatus
RESTING = (S.SUBMITTED.value, S.ACCEPTED.value, S.PARTIALLY_FILLED.value)


class OrderValidationError(Invalid, ValueError):
    """Untrusted input that cannot become an order: ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
                         field_errors={k: " ".join(v) for k, v in errors.items()})
        self.errors = errors


class OrderPermissionError(Forbidden, PermissionError):
    """The user may not act on this portfolio's orders."""


# ---------------------------------------------------------------------------
# Submission


@transaction.atomic
def order_submit(*, order_id: int, actor=None) -> Order:
    """Pre-trade check an INITIALIZED order and move it to SUBMITTED or DENIED; idempotent.

    Locks the portfolio row, so checks of concurrent orders of one portfolio serialise
    (a pair of orders cannot jointly breach a limit each passes alone). Records the
    arrival price (the mark at market now). An order not INITIALIZED is returned as is.
    """
    head = Order.objects.filter(pk=order_id).values("portfolio_id").first()
    if head is None:
        raise OrderError(f"no order {order_id}")
    (order,) = _lock(head["portfolio_id"], order_id)
    if order.status != S.INITIALIZED.value:
        return order
    now = get_clock().market_now()
    try:
        session = session_at(now)
        market = session_market(session, [order.instrument.symbol])
        arrival = market_state(market, order.instrument.symbol, now).mark.quantize(Decimal("0.000001"))
    except LookupError as exc:
        order = order_apply_event(order_id=order.pk, event=states.DENIED, actor=actor, reason=f"no market price: {exc}")
        return parent_settle(parent_id=order.pk) if order.proposal_id else order
    verdict = ports.pretrade_gate().check(
        portfolio_id=order.portfolio_id, intents=[intent_of(order, reference_price=arrival, ts=now)], order_ids=[order.pk]
    )[0]
    if not verdict.passed:
        reason = "; ".join(verdict.reasons) or "refused by the pre-trade checks"
        order = order_apply_event(order_id=order.pk, event=states.DENIED, actor=actor, reason=reason)
        if order.proposal_id:
            parent_settle(parent_id=order.pk)
        return order
    order.arrival_px = arrival
    held = reservation_hold(order, verdict.reservation)  # what it holds of the buying power until it fills or ends
    order_transition_locked(order, states.SUBMITTED, actor=actor, reason="; ".join(verdict.warnings),
                            extra_fields=["arrival_px", *held])
    dispatch.route_after_commit(order.pk)
    return order


def order_submit_new(*, actor=None, instrument, portfolio_id: int, client_order_id: str, **fields) -> Order:
    """A new order, checked and stored at once: SUBMITTED (routing enqueued after commit) or DENIED. The caller
    runs it in a transaction; ``IntegrityError`` when ``client_order_id`` is taken (nothing is written then).

    The lean path of one order: the gate's first read locks the portfolio row (so checks of one portfolio
    serialise, as in ``order_submit``) and reads the book with it; the order is inserted once, at the status
    the state machine gives it after the verdict, with both events (INITIALIZED, then SUBMITTED or DENIED) in
    one insert; the check is recorded with it. Ten queries with the validation's read.
    """
    now = get_clock().market_now()
    fields.pop("instrument_id", None)
    order = Order(client_order_id=client_order_id, portfolio_id=portfolio_id, instrument=instrument, created_by=actor,
                  **fields)
    order.algo_params = order.algo_params or {}
    try:
        market = session_market(session_at(now), [instrument.symbol])
        arrival = market_state(market, instrument.symbol, now).mark.quantize(Decimal("0.000001"))
    except LookupError as exc:
        arrival, verdict, why = None, None, f"no market price: {exc}"
    if arrival is not None:
        intent = intent_of(order, reference_price=arrival, ts=now)
        gate = ports.pretrade_gate()
        verdict = gate.check(portfolio_id=portfolio_id, intents=[intent], record=False, new_orders=True, lock_portfolio=True)[0]
        why = "; ".join(verdict.reasons) or "refused by the pre-trade checks"
    if verdict is not None and verdict.passed:
        order.arrival_px = arrival
        reservation_hold(order, verdict.reservation)
        event, why = states.SUBMITTED, "; ".join(verdict.warnings)
    else:
        event = states.DENIED
    order_insert(order, event, actor=actor, reason=why)
    if verdict is not None:
        gate.record(portfolio_id=portfolio_id, intents=[intent], verdicts=[verdict], order_ids=[order.pk])
    if event == states.SUBMITTED:
        dispatch.route_after_commit(order.pk)
    return order


def _dec(errors: dict, name: str, value: Any, *, required: bool = True) -> Decimal | None:
    if value is None or value == "":
        if required:
            errors.setdefault(name, []).append("This field is required.")
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors.setdefault(name, []).append("A number is required.")
        return None
    if not d.is_finite() or d <= 0:
        errors.setdefault(name, []).append("Must be a positive number.")
        return None
    return d


def check_order_place(
    *, user, portfolio_id: Any, symbol: Any, side: Any, quantity: Any, order_type: Any = "MARKET",
    limit_price: Any = None, time_in_force: Any = "DAY", algo: Any = "IMMEDIATE", algo_params: Any = None,
    client_order_id: Any = "",
) -> dict[str, Any]:
    """Validate a manual order; return the cleaned fields or raise ``OrderValidationError``
    (every bad field named) / ``OrderPermissionError`` (not a trader of the portfolio)."""
    from market_app.models import Instrument
    from portfolio_app.models import Portfolio

    errors: dict[str, list[str]] = {}
    if not roles.is_trader(user):
        raise OrderPermissionError("Only traders place orders.")
    try:
        pid = int(portfolio_id)
    except (TypeError, ValueError):
        pid = None
        errors["portfolio"] = ["A portfolio id is required."]
    # One read for the instrument and the portfolio (whether it exists, whether the user trades it). An id no
    # portfolio can have (missing, not positive, beyond the column) is read as 0, which names none.
    book = Portfolio.objects.filter(pk=pid)
    instrument = next(iter(_INSTRUMENT_AND_BOOK.instances(
        symbol=str(symbol or "").upper(), portfolio_id=pid if pid is not None and 0 < pid < 2**63 else 0, user_id=user.pk,
    )), None)
    if instrument is not None:
        exists, traded = instrument.book_exists, instrument.book_traded
    else:
        exists = pid is not None and book.exists()
        traded = exists and book.filter(traders=user.pk).exists()
    if pid is not None and not exists:
        errors["portfolio"] = ["No such portfolio."]
    elif pid is not None and not traded:
        raise OrderPermissionError("You do not trade this portfolio.")
    if instrument is None:
        errors["symbol"] = [f"Unknown instrument {symbol!r}." if symbol else "This field is required."]
    elif not instrument.tradable or instrument.asset_class != Instrument.AssetClass.EQUITY:
        errors["symbol"] = [f"{instrument.symbol} is not tradable."]
    side = str(side or "").upper()
    if side not in Side.__members__:
        errors["side"] = ["Must be BUY or SELL."]
    qty = _dec(errors, "quantity", quantity)
    if qty is not None and instrument is not None and qty % instrument.lot_size != 0:
        errors["quantity"] = [f"Must be a whole number of lots of {format(instrument.lot_size.normalize(), 'f')}."]
    order_type = str(order_type or "MARKET").upper()
    if order_type not in OrderType.__members__:
        errors["order_type"] = ["Must be MARKET or LIMIT."]
    limit = None
    if order_type == OrderType.LIMIT.value:
        limit = _dec(errors, "limit_price", limit_price)
    elif limit_price not in (None, ""):
        errors["limit_price"] = ["Only LIMIT orders take a limit price."]
    tif = str(time_in_force or "DAY").upper()
    if tif not in TimeInForce.__members__:
        errors["time_in_force"] = ["Must be DAY, GTC or IOC."]
    algo = str(algo or "IMMEDIATE").upper()
    if algo not in ALGOS:
        errors["algo"] = [f"Must be one of {', '.join(ALGOS)}."]
    params = algo_params or {}
    if not isinstance(params, dict):
        errors["algo_params"] = ["Must be an object."]
        params = {}
    cid = str(client_order_id or "").strip()
    if len(cid) > 40:
        errors["client_order_id"] = ["At most 40 characters."]
    if not errors:
        _dry_run(errors, instrument, side, qty, order_type, limit, tif, algo, params)
    if errors:
        raise OrderValidationError(errors)
    return {
        "portfolio_id": pid, "instrument_id": instrument.pk, "side": side, "quantity": qty,
        "order_type": order_type, "limit_price": limit, "time_in_force": tif, "algo": algo,
        "algo_params": params, "client_order_id": cid or f"M{pid}-{uuid.uuid4().hex[:12]}",
        "instrument": instrument,
    }


def _instrument_and_book(*, symbol: str, portfolio_id: int, user_id: int):
    """The instrument of ``symbol``, with whether the portfolio exists and whether the user trades it."""
    from django.db.models import Exists

    from market_app.models import Instrument
    from portfolio_app.models import Portfolio

    book = Portfolio.objects.filter(pk=portfolio_id)
    return (Instrument.objects.filter(symbol=symbol)
            .annotate(book_exists=Exists(book), book_traded=Exists(book.filter(traders=user_id)))
            .order_by("pk")[:1].values(*fields_of(Instrument), "book_exists", "book_traded"))


# Compiled once per process (``desk.compiled``): every manual order reads it.
_INSTRUMENT_AND_BOOK = CompiledQuery(_instrument_and_book, symbol=str, portfolio_id=int, user_id=int)


def _dry_run(errors, instrument, side, qty, order_type, limit, tif, algo, params) -> None:
    """Let the algo plan now so bad parameters are refused at the form, not in a worker."""
    from datetime import datetime

    from desk.interfaces import OrderIntent

    now = get_clock().market_now()
    try:
        market = session_market(session_at(now), [instrument.symbol])
        p = dict(params)
        for key in ("start", "end"):
            if isinstance(p.get(key), str):
                p[key] = datetime.fromisoformat(p[key])
        p.setdefault("lot_size", instrument.lot_size)
        intent = OrderIntent(0, instrument.symbol, Side(side), qty, OrderType(order_type), limit, None, TimeInForce(tif))
        get_algo(algo).schedule(intent, market_state(market, instrument.symbol, now), p)
    except ConfigError as exc:
        errors.setdefault(exc.field if exc.field in ("quantity", "limit_price") else "algo_params", []).append(str(exc))
    except (ValueError, TypeError) as exc:
        errors.setdefault("algo_params", []).append(str(exc))
    except LookupError as exc:
        errors.setdefault("symbol", []).append(f"No market price: {exc}")


# What makes two requests with one client_order_id the same order.
IDEMPOTENT_FIELDS = ("portfolio_id", "instrument_id", "side", "quantity", "order_type", "limit_price", "time_in_force",
                     "algo", "algo_params")


class OrderConflict(Conflict):
    """A ``client_order_id`` already names a different order; ``order_id`` is that order."""

    def __init__(self, message: str, *, order_id: int, fields: list[str]):
        super().__init__(message, field_errors={f: "differs from the order this client_order_id already names" for f in fields})
        self.order_id = order_id

    def body(self) -> dict:
        return {**super().body(), "order_id": self.order_id}


def order_place_once(*, user, **fields) -> tuple[Order, bool]:
    """Validate, persist and submit a manual order: ``(order, created)``.

    Idempotent on ``client_order_id``: the same request again returns the first order
    (``created`` false); a different order under the same id is refused (``OrderConflict``),
    so a caller never takes a dropped order for a placed one.
    """
    clean = check_order_place(user=user, **fields)
    try:
        with transaction.atomic():
            return order_submit_new(actor=user, **clean), True
    except IntegrityError:
        # The client_order_id names an order already (a retried request, or a race lost): nothing was
        # written, and that order is the answer.
        order = Order.objects.filter(client_order_id=clean["client_order_id"]).first()
        if order is None:
            raise
    differ = [f for f in IDEMPOTENT_FIELDS if f != "algo_params" and getattr(order, f) != clean[f]]
    if (order.algo_params or {}) != (clean["algo_params"] or {}):
        differ.append("algo_params")
    if differ:
        names = [{"portfolio_id": "portfolio", "instrument_id": "symbol"}.get(d, d) for d in differ]  # the request's words
        raise OrderConflict(f"client_order_id {order.client_order_id} already names order {order.pk}, with a different "
                            f"{', '.join(names)}.", order_id=order.pk, fields=names)
    return order, False


def order_place(*, user, **fields) -> Order:
    """``order_place_once`` for callers that need only the order."""
    return order_place_once(user=user, **fields)[0]


# ---------------------------------------------------------------------------
# Cancel and amend


def _open_children(parent: Order) -> list[Order]:
    ids = list(parent.children.filter(status__in=OPEN_STATUSES).order_by("-due_at", "-id").values_list("id", flat=True))
    return [Order.objects.select_for_update(of=("self",)).select_related("instrument", "venue").get(pk=i) for i in ids]


def _cancel_child(child: Order, actor, reason: str, *, portfolio, parent: Order | None) -> None:
    """Cancel one child: at once when it was never sent, else at its venue (``working.venue_cancel``)."""
    venue_cancel(child, portfolio=portfolio, parent=parent, actor=actor, reason=reason)


def _authorise_cancel(actor, portfolio_id: int) -> None:
    if actor is not None and not may_cancel_orders(actor, portfolio_id):
        raise OrderPermissionError("Only the portfolio's traders, or a risk officer, may cancel its orders.")


@transaction.atomic
def order_cancel(*, order_id: int, actor=None, reason: str = "cancelled on request") -> Order:
    """Cancel an open order and every open child of it. Locks portfolio, parent, children.

    ``actor``: a trader of the portfolio or a risk officer (``OrderPermissionError`` otherwise);
    ``None`` is the desk itself (the sweeper, a venue's end of day).
    """
    head = Order.objects.filter(pk=order_id).values("portfolio_id", "parent_id").first()
    if head is None:
        raise OrderError(f"no order {order_id}")
    _authorise_cancel(actor, head["portfolio_id"])
    portfolio, locked = _lock_all(head["portfolio_id"], *[i for i in (head["parent_id"], order_id) if i])
    order = locked[-1]
    if states.is_terminal(order.status):
        raise OrderError(f"{order.client_order_id} is already {order.status}")
    if order.parent_id:
        _cancel_child(order, actor, reason, portfolio=portfolio, parent=locked[0])
        parent_settle(parent_id=order.parent_id)
        return Order.objects.get(pk=order.pk)
    if order.status == S.INITIALIZED.value:
        return order_apply_event(order_id=order.pk, event=states.CANCELED, actor=actor, reason=reason)
    if order.status != S.PENDING_CANCEL.value:
        # On the locked row itself: a fill its children book below moves this same object, from PENDING_CANCEL.
        order_transition_locked(order, states.PENDING_CANCEL, actor=actor, reason=reason)
    for child in _open_children(order):
        _cancel_child(child, actor, reason, portfolio=portfolio, parent=order)
    if not order.children.exists():  # not routed yet: nothing to wait for
        order_apply_event(order_id=order.pk, event=states.CANCELED, actor=actor, reason=reason)
    return parent_settle(parent_id=order.pk)


def orders_cancel_all(*, portfolio_id: int, actor=None, reason: str = "cancel all") -> int:
    """Cancel every open parent order of a portfolio (and manual/child orders with them); who may: as ``order_cancel``.
    The same outcome as ``order_cancel`` of each, in one transaction (``orders_app.bulk_cancel``)."""
    _authorise_cancel(actor, portfolio_id)
    try:  # one transaction for the whole book, the venues asked in bulk: a HALT of a thousand orders in about a second
        return orders_cancel_bulk(portfolio_id=portfolio_id, actor=actor, reason=reason)
    except states.IllegalTransition:
        pass  # a row not as the bulk path expects (it kept nothing): one by one, each on its own
    ids = list(Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=True, status__in=OPEN_STATUSES).values_list("id", flat=True))
    done = 0
    with releases_batched():  # the desk books re-value the portfolio once, after the last cancel
        for oid in ids:
            try:
                order_cancel(order_id=oid, actor=actor, reason=reason)
                done += 1
            except (OrderError, states.IllegalTransition):
                continue  # finished meanwhile
    return done


@dataclass(frozen=True)
class AmendResult:
    order: Order
    denied: str = ""  # the pre-trade checks' reasons when the amend was refused (the order is as it was)


def order_amend(*, order_id: int, actor=None, quantity: Decimal | None = None, limit_price: Decimal | None = None) -> Order:
    """``order_amend_checked`` for callers that need only the order."""
    return order_amend_checked(order_id=order_id, actor=actor, quantity=quantity, limit_price=limit_price).order


@transaction.atomic
def order_amend_checked(*, order_id: int, actor=None, quantity: Decimal | None = None,
                        limit_price: Decimal | None = None) -> AmendResult:
    """Amend a parent's quantity or limit price (PENDING_UPDATE -> UPDATED), reaching its open
    children: a smaller quantity comes off the latest slices first, a larger one goes to the
    last unsent slice or a new slice due now. Locks portfolio, parent, children.

    An amend that can add risk (more quantity, or a new limit price) passes the pre-trade gate
    at the amended quantity and price first, as a new order would; refused, the order stays as
    it was (PENDING_UPDATE -> MODIFY_REJECTED) with the checks' reasons, and ``denied`` says them.
    Only a smaller quantity goes without a check: it can only take risk away.
    """
    if quantity is None and limit_price is None:
        raise OrderValidationError({"quantity": ["Give a new quantity or a new limit price."]})
    head = Order.objects.filter(pk=order_id, parent__isnull=True).values("portfolio_id").first()
    if head is None:
        raise OrderError(f"no parent order {order_id}")
    if actor is not None and not may_trade_portfolio(actor, head["portfolio_id"]):
        raise OrderPermissionError("Only the portfolio's traders may amend its orders.")
    portfolio, (order,) = _lock_all(head["portfolio_id"], order_id)
    if order.status not in RESTING:
        raise OrderError(f"{order.client_order_id} is {order.status}: only a working order can be amended")
    errors: dict[str, list[str]] = {}
    if quantity is not None:
        if quantity <= order.filled_qty:
            errors["quantity"] = [f"Must be above the {order.filled_qty.normalize()} already filled (cancel the rest instead)."]
        elif quantity % order.instrument.lot_size != 0:
            errors["quantity"] = [f"Must be a whole number of lots of {format(order.instrument.lot_size.normalize(), 'f')}."]
    if limit_price is not None and order.order_type != OrderType.LIMIT.value:
        errors["limit_price"] = ["Only LIMIT orders have a limit price to amend."]
    elif limit_price is not None and limit_price <= 0:
        errors["limit_price"] = ["Must be a positive number."]
    if errors:
        raise OrderValidationError(errors)
    order_apply_event(order_id=order.pk, event=states.PENDING_UPDATE, actor=actor)
    old_leaves = order.quantity - order.filled_qty
    if (quantity is not None and quantity > order.quantity) or limit_price is not None:
        why, reservation = _amend_denied(order, quantity=quantity, limit_price=limit_price)
        if why:
            order = order_apply_event(order_id=order.pk, event=states.MODIFY_REJECTED, actor=actor, reason=f"amend denied: {why}")
            return AmendResult(order, why)
        reservation_set(order_id=order.pk, amount=reservation)
    elif quantity is not None:
        reservation_requantify(order_id=order.pk, old_leaves=old_leaves, new_leaves=quantity - order.filled_qty)
    children = _open_children(order)
    amend = functools.partial(_amend_child, portfolio=portfolio, parent=order)
    if limit_price is not None:
        for c in children:
            amend(c, actor, limit_price=limit_price)
    if quantity is not None and quantity != order.quantity:
        _requantify(order, children, quantity - order.quantity, actor, amend=amend,
                    cancel=functools.partial(_cancel_child, portfolio=portfolio, parent=order))
    changes = {k: v for k, v in (("quantity", quantity), ("limit_price", limit_price)) if v is not None}
    return AmendResult(order_apply_event(order_id=order.pk, event=states.UPDATED, actor=actor, **changes))


def _amend_denied(order: Order, *, quantity: Decimal | None, limit_price: Decimal | None) -> tuple[str, Decimal | None]:
    """The gate's reasons for refusing the order as amended ("" when it passes), and what the amended
    order reserves of the buying power: what is left to trade at the amended quantity and price, priced
    at the mark now. The parent's own open exposure and reservation are left out of the book it is
    checked against (the snapshot excludes its client order id), so nothing counts twice."""
    now = get_clock().market_now()
    try:
        mark = market_state(session_market(session_at(now), [order.instrument.symbol]), order.instrument.symbol, now).mark
    except LookupError as exc:
        return f"no market price: {exc}", None
    amended = replace(
        intent_of(order, reference_price=mark.quantize(Decimal("0.000001")), ts=now),
        quantity=(quantity if quantity is not None else order.quantity) - order.filled_qty,
        limit_price=limit_price if limit_price is not None else order.limit_price,
    )
    verdict = ports.pretrade_gate().check(portfolio_id=order.portfolio_id, intents=[amended], order_ids=[order.pk])[0]
    return ("", verdict.reservation) if verdict.passed else ("; ".join(verdict.reasons) or "refused by the pre-trade checks", None)


def _amend_child(child: Order, actor, *, portfolio, parent: Order, **changes) -> None:
    """Change one child: in place before it is sent, else by a replace at its venue (``working.venue_replace``)."""
    venue_replace(child, portfolio=portfolio, parent=parent, actor=actor, **changes)


def _requantify(parent: Order, children: list[Order], delta: Decimal, actor, *, amend, cancel) -> None:
    if delta < 0:
        left = -delta
        for c in children:  # latest due first
            if left <= 0:
                break
            unfilled = c.quantity - c.filled_qty
            if unfilled <= left:
                cancel(c, actor, "parent quantity reduced")
                left -= unfilled
            else:
                amend(c, actor, quantity=c.quantity - left)
                left = Decimal(0)
        return
    unsent = [c for c in children if c.status == S.INITIALIZED.value]
    if unsent:
        amend(unsent[0], actor, quantity=unsent[0].quantity + delta)
        return
    if parent.status == S.SUBMITTED.value and not parent.children.exists():
        return  # routing has not run: it will slice the amended quantity
    _extra_slice(parent, delta)


def _extra_slice(parent: Order, quantity: Decimal) -> None:
    """A new slice due now for an increase with no unsent slice to absorb it."""
    from orders_app.models import RoutingDecision, Venue
    from orders_app.working import _plan

    clock = get_clock()
    now = clock.market_now()
    seq = (parent.routing_decisions.order_by("-sequence").values_list("sequence", flat=True).first() or 0) + 1
    probe = Order(pk=parent.pk, client_order_id=parent.client_order_id, portfolio_id=parent.portfolio_id,
                  instrument=parent.instrument, side=parent.side, quantity=quantity, order_type=parent.order_type,
                  limit_price=parent.limit_price, time_in_force=parent.time_in_force, algo="IMMEDIATE", algo_params={})
    slices, decisions = _plan(probe, now)
    d = decisions[0]
    RoutingDecision.objects.create(
        parent=parent, sequence=seq, due_at=slices[0].due, quantity=quantity, expected_cost_bps=d.expected_cost_bps,
        alternatives=dict(d.alternatives),
        allocations=[{"venue": a.venue, "quantity": str(a.quantity), "expected_price": str(a.expected_price),
                      "expected_cost_bps": a.expected_cost_bps} for a in d.allocations],
    )
    venue_ids = dict(Venue.objects.values_list("code", "id"))
    for a in d.allocations:
        child, _ = order_create(
            client_order_id=child_client_id(parent, seq, a.venue), portfolio_id=parent.portfolio_id,
            instrument_id=parent.instrument_id, side=parent.side, quantity=a.quantity, order_type=parent.order_type,
            limit_price=parent.limit_price, time_in_force=parent.time_in_force, algo=parent.algo, parent_id=parent.pk,
            proposal_id=parent.proposal_id, venue_id=venue_ids.get(a.venue), due_at=slices[0].due, arrival_px=parent.arrival_px,
        )
        wake = wall_for(clock, slices[0].due)
        Order.objects.filter(pk=child.pk).update(wake_at=wake, work_seq=1)
        dispatch.work_after_commit(child.pk, 1, eta=wake)
