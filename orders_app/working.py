"""Working parent orders: slicing into child orders, routing, executing, settling (services).

Locking order, as everywhere in orders_app: portfolio row -> parent -> child -> position.

- ``order_route``: a SUBMITTED parent becomes child orders (the algo's slices, split
  across venues by the router), persisted with their due time, venue and a client
  order id derived from the parent's, together with the routing decisions, *before*
  anything is sent; the parent goes ACCEPTED; each child's first task is enqueued
  after commit for its due time (the routing task works the children due now itself).

A step's order writes are batched (``services.order_writes_batched``): each changed order
is written once and its events inserted together, at the end of the step or before any
read of order rows.
- ``child_work``: one step of one child: send it when due, replay the environment
  up to market now, apply the fills it reports (``fill_apply`` ignores a
  ``trade_id`` it has seen), settle it when terminal, else schedule the next step.
  A task carries the child's ``work_seq``; each step bumps it under the row lock, so
  a duplicate delivery or a superseded chain exits without doing anything.
- ``orders_sweep``: re-enqueues only children whose expected task is overdue
  (``wake_at`` past by a grace period), and parents whose routing task was lost.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone

from market_app.clock import get_clock
from desk import ports
from desk.interfaces import (ConfigError, ExecutionOrder, LimitBreach, OrderIntent, OrderStatus, OrderType, ProposalStatus,
                             RiskVerdict, RouteAllocation, RouteDecision, Side, TimeInForce)
from orders_app import dispatch, states
from orders_app.algos import get_algo
from orders_app.venues import load_environment, venue_rows, venues_read_once
from market_app.marks import market_state, session_at, session_market
from orders_app.models import Fill, Order, OrderEvent, RoutingDecision, Venue
from orders_app.states import OPEN_STATUSES
from orders_app.routing import NoVenueAvailable, SmartOrderRouter
from orders_app.services import (fill_apply_locked, order_apply_event, order_events_add, order_fields_save,
                                 order_transition_locked, order_writes_batched, order_writes_flush)
from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.services import proposal_transition
from portfolio_app.states import PROPOSAL_TABLE, IllegalTransition

S = OrderStatus


def _poll_seconds() -> float:
    return float(getattr(settings, "DESK_ORDER_POLL_SECONDS", 1.0))


def wall_for(clock, market_time: datetime) -> datetime:
    """The wall instant to wake at for ``market_time``: the replay clock maps it exactly;
    a clock that cannot (stepped by hand, wall) is polled. Never more than the cap away,
    so a long wait is a few cheap wake-ups rather than one fragile far-future eta."""
    now = timezone.now()
    wall = None
    wall_at = getattr(clock, "wall_at", None)
    if wall_at is not None:
        try:
            wall = wall_at(market_time)
        except ValueError:
            wall = None
    if wall is None:
        wall = now if market_time <= clock.market_now() else now + timedelta(seconds=_poll_seconds())
    cap = now + timedelta(seconds=float(getattr(settings, "DESK_ORDER_MAX_WAIT_SECONDS", 300.0)))
    return min(max(wall, now), cap)


_markets: contextvars.ContextVar[dict | None] = contextvars.ContextVar("desk_task_markets", default=None)


@contextlib.contextmanager
def _task_reads() -> Iterator[None]:
    """One task's reads of what does not change while it runs, made once: the venues (``venues_read_once``) and each
    session's replayed market of a symbol (the path the algo plans on, the gate marks the slice at and the paper venue
    fills on)."""
    if _markets.get() is not None:
        yield
        return
    token = _markets.set({})
    try:
        with venues_read_once():
            yield
    finally:
        _markets.reset(token)


def _session_market(session, symbol: str):
    memo = _markets.get()
    if memo is None:
        return session_market(session, [symbol])
    key = (session.day, symbol)
    market = memo.get(key)
    if market is None:
        market = memo[key] = session_market(session, [symbol])
    return market


def _lock(portfolio_id: int, *order_ids: int):
    return _lock_all(portfolio_id, *order_ids)[1]


class _Compiled:
    """The rows (models, ``select_related`` ones included) of the queryset ``make(*ids)`` builds, its SQL compiled once
    per process: each call runs that SQL with its own ids and builds the models as Django's ``ModelIterable`` does.
    For the row locks every task takes: compiling a query is most of its CPU in the ORM (~0.8 of ~1 ms)."""

    _MARK = -7_051_966  # ids no row has, marking where each id goes in the compiled parameters

    def __init__(self, make, ids: int = 1):
        self.make, self.ids, self._plan = make, ids, None

    def _compile(self):
        from django.db.models.query import get_related_populators

        marks = [self._MARK - i for i in range(self.ids)]
        qs = self.make(*marks)
        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()
        at = [[j for j, p in enumerate(params) if p == m] for m in marks]
        if not all(at) or compiler.annotation_col_map:
            raise ValueError(f"cannot compile {qs.query} once")  # a bug in the caller's ``make``, caught by its tests
        info = compiler.klass_info
        first, last = info["select_fields"][0], info["select_fields"][-1] + 1
        fields = [col[0] for col in compiler.select[:compiler.col_count]]
        self._plan = (compiler, sql, list(params), at, info["model"], first, last,
                      [col[0].target.attname for col in compiler.select[first:last]],
                      get_related_populators(info, compiler.select, qs.db), compiler.get_converters(fields), qs.db)
        return self._plan

    def rows(self, *ids: int) -> list:
        from django.db import connections

        (compiler, sql, params, at, model, first, last, init_list, related, converters, db) = self._plan or self._compile()
        params = list(params)
        for places, value in zip(at, ids):
            for j in places:
                params[j] = value
        with connections[db].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = compiler.apply_converters(rows, converters)
        out = []
        for row in rows:
            obj = model.from_db(db, init_list, row[first:last])
            for populator in related:
                populator.populate(row, obj)
            out.append(obj)
        return out


def _orders_locked():
    return Order.objects.select_for_update(of=("self",)).select_related("instrument", "venue")


_PORTFOLIO_OF_PARENT = _Compiled(lambda i: Portfolio.objects.select_for_update().filter(
    pk=Subquery(Order.objects.filter(pk=i, parent__isnull=True).values("portfolio_id")[:1]))[:1])
_PORTFOLIO_OF_ORDER = _Compiled(lambda i: Portfolio.objects.select_for_update().filter(
    pk=Subquery(Order.objects.filter(pk=i).values("portfolio_id")[:1]))[:1])
_PORTFOLIO = _Compiled(lambda i: Portfolio.objects.select_for_update().filter(pk=i))
_ORDER = _Compiled(lambda i: _orders_locked().filter(pk=i))
_TWO_ORDERS = _Compiled(lambda i, j: _orders_locked().filter(pk__in=(i, j)).order_by("id"), ids=2)
_CHILD_AND_PARENT = _Compiled(lambda i: _orders_locked().filter(
    Q(pk=i) | Q(pk=Subquery(Order.objects.filter(pk=i).values("parent_id")[:1]))).order_by("id"))


def _lock_portfolio_of(order_id: int, *, parent_only: bool = False) -> Portfolio | None:
    """Lock the portfolio of order ``order_id`` (``parent_only``: when it is a parent), its id read in the same
    statement; None when there is no such order. An order never changes portfolio, so the lock is the one its
    portfolio id would take."""
    rows = (_PORTFOLIO_OF_PARENT if parent_only else _PORTFOLIO_OF_ORDER).rows(order_id)
    return rows[0] if rows else None


def _lock_all(portfolio_id: int | Portfolio, *order_ids: int):
    """Lock the portfolio row (or take ``portfolio``, locked already), then the orders in the order given (parent
    before child): (portfolio, orders).

    A parent and its child are locked by one query: a child is always created after its parent, so
    locking in id order is locking parent before child."""
    if isinstance(portfolio_id, Portfolio):
        portfolio = portfolio_id
    else:
        (portfolio, *_) = _PORTFOLIO.rows(portfolio_id) or [None]
        if portfolio is None:
            raise Portfolio.DoesNotExist(f"portfolio {portfolio_id}")
    if len(order_ids) == 2 and order_ids[0] < order_ids[1]:
        rows = _TWO_ORDERS.rows(*order_ids)
        if len(rows) != 2:
            raise Order.DoesNotExist(f"orders {order_ids}")
        return portfolio, rows
    orders = []
    for i in order_ids:
        rows = _ORDER.rows(i)
        if not rows:
            raise Order.DoesNotExist(f"order {i}")
        orders.append(rows[0])
    return portfolio, orders


def _lock_child_and_parent(child_id: int) -> list[Order]:
    """Lock child ``child_id`` and its parent (when it has one) in one query, parent first (id order), the
    parent's id read in the same statement. Caller holds the portfolio lock."""
    rows = _CHILD_AND_PARENT.rows(child_id)
    if not rows or rows[-1].pk != child_id:
        raise Order.DoesNotExist(f"order {child_id}")
    return rows


def intent_of(order: Order, *, reference_price: Decimal | None = None, ts: datetime | None = None) -> OrderIntent:
    return OrderIntent(
        portfolio_id=order.portfolio_id,
        symbol=order.instrument.symbol,
        side=Side(order.side),
        quantity=order.quantity,
        order_type=OrderType(order.order_type),
        limit_price=order.limit_price,
        reference_price=reference_price,
        time_in_force=TimeInForce(order.time_in_force),
        client_order_id=order.client_order_id,
        sector=order.instrument.sector,
        ts=ts,
    )


def _algo_params(order: Order) -> dict:
    params = dict(order.algo_params or {})
    for key in ("start", "end"):
        if isinstance(params.get(key), str):
            params[key] = datetime.fromisoformat(params[key])
    params.setdefault("lot_size", order.instrument.lot_size)
    return params


def child_client_id(parent: Order, sequence: int, venue: str) -> str:
    cid = f"{parent.client_order_id}-{sequence}-{venue}"
    return cid if len(cid) <= 64 else f"P{parent.pk}-{sequence}-{venue}"


def _plan(parent: Order, now: datetime):
    """(slices, [RouteDecision per slice]) for ``parent`` at market time ``now`` (pure reads)."""
    sym = parent.instrument.symbol
    session = session_at(now)
    market = _session_market(session, sym)
    state = market_state(market, sym, now)
    slices = get_algo(parent.algo).schedule(intent_of(parent), state, _algo_params(parent))
    lot = parent.instrument.lot_size
    env = load_environment(market=market, clock=lambda: state.now, lot_size=lot)
    quotes = getattr(env, "quotes", None)
    router = SmartOrderRouter(daily_vol=state.daily_vol, adv=state.adv, lot_size=lot)
    decisions = []
    for s in slices:
        if quotes is None:  # an environment without quotes: one venue, the first enabled
            code = Venue.objects.filter(enabled=True).values_list("code", flat=True).first()
            if code is None:
                raise NoVenueAvailable("no venue is up")
            decisions.append(RouteDecision((RouteAllocation(code, s.quantity, state.mark, 0.0),), 0.0, {}))
            continue
        # Priced on the quote now (no look-ahead), sized by the display expected at the slice's time.
        due_display = {q.venue: q.displayed_qty for q in quotes(sym, max(s.due, state.now))}
        book = [replace(q, displayed_qty=due_display.get(q.venue, q.displayed_qty)) for q in quotes(sym, state.now)]
        decisions.append(router.route(Side(parent.side), s.quantity, book))
    return slices, decisions


def order_route(*, parent_id: int, work_due_inline: bool = False) -> list[int]:
    """Slice and route a SUBMITTED parent into persisted child orders; idempotent.

    A parent that is not SUBMITTED (already routed, cancelled, …) is left alone, so a
    redelivered task creates nothing. Locks the portfolio and the parent.

    ``work_due_inline`` (the routing task): children due now are not enqueued but worked
    right here; an IMMEDIATE order then costs one task, not three. A child for the desk's paper
    venue is worked in the routing transaction (its book is in this database: the order rows and
    the venue's row commit together, or neither does, should the step fail: the parent then stays
    SUBMITTED and the task's retry or the sweeper routes it again). A child for any other venue is
    worked in its own transaction *after* the routing transaction committed it (persisted before
    sent); should this process die in between, its ``wake_at`` is already due and the sweeper
    re-enqueues it.
    """
    with _task_reads():  # one read of the venues and the market for routing and for working the slices due now
        return _route(parent_id=parent_id, work_due_inline=work_due_inline)


def _route(*, parent_id: int, work_due_inline: bool) -> list[int]:
    clock = get_clock()
    with transaction.atomic(), order_writes_batched():
        portfolio = _lock_portfolio_of(parent_id, parent_only=True)
        if portfolio is None:
            return []
        (parent,) = _lock_all(portfolio, parent_id)[1]
        if parent.status != S.SUBMITTED.value:
            return []
        now = clock.market_now()
        try:
            slices, decisions = _plan(parent, now)
        except (ConfigError, NoVenueAvailable, LookupError) as exc:
            order_apply_event(order_id=parent.pk, event=states.REJECTED, reason=f"cannot work the order: {exc}")
            parent_settle(parent_id=parent.pk)
            return []
        venue_ids = {v.code: v.pk for v in venue_rows()}
        rows, children, inline = [], [], []
        for s, d in zip(slices, decisions):
            rows.append(
                RoutingDecision(
                    parent=parent, sequence=s.sequence, due_at=s.due, quantity=s.quantity,
                    expected_cost_bps=d.expected_cost_bps, alternatives=dict(d.alternatives),
                    allocations=[
                        {"venue": a.venue, "quantity": str(a.quantity), "expected_price": str(a.expected_price),
                         "expected_cost_bps": a.expected_cost_bps}
                        for a in d.allocations
                    ],
                )
            )
            wake = wall_for(clock, s.due)
            for a in d.allocations:
                children.append(
                    Order(
                        client_order_id=child_client_id(parent, s.sequence, a.venue), parent=parent,
                        portfolio_id=parent.portfolio_id, instrument_id=parent.instrument_id,
                        proposal_id=parent.proposal_id, venue_id=venue_ids.get(a.venue), side=parent.side,
                        quantity=a.quantity, order_type=OrderType.LIMIT.value if s.limit_price is not None else OrderType.MARKET.value,
                        limit_price=s.limit_price, time_in_force=parent.time_in_force, algo=parent.algo,
                        due_at=s.due, arrival_px=parent.arrival_px, created_by_id=parent.created_by_id,
                        wake_at=wake, work_seq=1,
                    )
                )
        RoutingDecision.objects.bulk_create(rows)
        children = Order.objects.bulk_create(children)
        if children and children[0].pk is None:  # a backend that does not return ids
            children = list(Order.objects.filter(parent=parent).order_by("id"))
        order_events_add([OrderEvent(order=c, event="INITIALIZED", from_status="", to_status=c.status, reason="slice of the parent")
                          for c in children])
        order_transition_locked(parent, states.ACCEPTED, reason=f"{len(slices)} slices, {len(children)} child orders")
        wall_now = timezone.now()
        inline = [c for c in children if work_due_inline and c.wake_at <= wall_now]
        for c in children:
            if c not in inline:
                dispatch.work_after_commit(c.pk, c.work_seq, eta=c.wake_at)
        if not children:
            parent_settle(parent_id=parent.pk)
        # A slice for the desk's paper venue, whose book is this database, is worked in this transaction: sending it
        # is a row written with the order's, so both commit or neither does. Any other venue gets it after commit.
        venues = {v.pk: v for v in venue_rows()}
        here = [c for c in inline if c.venue_id in venues and venues[c.venue_id].kind == Venue.Kind.PAPER]
        for i, c in enumerate(here, 1):
            c.instrument, c.venue = parent.instrument, venues[c.venue_id]  # what the step reads of them, in hand
            # The parent cannot be settled while a sibling worked next in this transaction is still open: only the
            # last one's step settles it (once, rather than a flush and two reads per slice).
            _step(c, parent=parent, portfolio=portfolio, seq=c.work_seq, clock=clock, settle=i == len(here))
    for c in inline:
        if c not in here:
            child_work(child_id=c.pk, seq=c.work_seq, head={"portfolio_id": parent.portfolio_id, "parent_id": parent.pk})
    return [c.pk for c in children]


def _schedule(child: Order, market_time: datetime, clock) -> None:
    child.work_seq += 1
    child.wake_at = wall_for(clock, market_time)
    order_fields_save(child, ["work_seq", "wake_at"])
    dispatch.work_after_commit(child.pk, child.work_seq, eta=child.wake_at)


def _rest(child: Order) -> None:
    """No task waits for ``child`` any more (it is terminal, or a venue that reports by push has it)."""
    child.wake_at = None
    order_fields_save(child, ["wake_at"])


def _end_child(child: Order, status: str, reason: str) -> None:
    event = states.CANCELED if status in (S.CANCELED.value, S.REJECTED.value) else states.EXPIRED
    if status == S.REJECTED.value and child.status == S.SUBMITTED.value:
        event = states.REJECTED
    order_apply_event(order_id=child.pk, event=event, reason=reason)
    _rest(child)


def _reroute(child: Order, parent: Order, why: str, clock, now: datetime) -> bool:
    """Send what a venue refused of a slice to the next venue by the router's ranking; False when none is left.

    The ranking is the slice's routing decision (each venue's cost for the whole slice alone), among
    enabled venues not yet tried for it; every refusal is recorded on the decision (``attempts``).
    Caller holds the portfolio, parent and child locks.
    """
    rest = child.quantity - child.filled_qty
    decision = (RoutingDecision.objects.select_for_update().filter(parent=parent, due_at=child.due_at).order_by("sequence").first()
                if child.due_at else None)
    if decision is None or rest <= 0:
        return False
    tried = {a["venue"] for a in decision.attempts} | {child.venue.code if child.venue_id else ""}
    enabled = dict(Venue.objects.filter(enabled=True).values_list("code", "id"))
    ranked = sorted(decision.alternatives, key=decision.alternatives.get) or sorted(enabled)
    nxt = next((v for v in ranked if v in enabled and v not in tried), None)
    decision.attempts = [*decision.attempts, {"venue": child.venue.code if child.venue_id else "", "reason": why[:300],
                                              "quantity": str(rest), "rerouted_to": nxt, "at": now.isoformat()}]
    decision.save(update_fields=["attempts"])
    if nxt is None:
        return False
    again = Order.objects.create(
        client_order_id=f"{child.client_order_id[:52]}-R{len(decision.attempts)}", parent=parent,
        portfolio_id=parent.portfolio_id, instrument_id=parent.instrument_id, proposal_id=parent.proposal_id,
        venue_id=enabled[nxt], side=parent.side, quantity=rest, order_type=child.order_type, limit_price=child.limit_price,
        time_in_force=child.time_in_force, algo=parent.algo, due_at=child.due_at, arrival_px=parent.arrival_px,
        created_by=parent.created_by, wake_at=timezone.now(), work_seq=1,
    )
    OrderEvent.objects.create(order=again, event="INITIALIZED", from_status="", to_status=again.status,
                              reason=f"re-routed from {child.venue.code if child.venue_id else '?'}: {why}"[:2000])
    dispatch.work_after_commit(again.pk, again.work_seq, eta=again.wake_at)
    return True


def _arrival_now(clock, child: Order, now: datetime) -> datetime:
    """Market now, once the venue's latency after sending has elapsed if that is only a few
    wall milliseconds away (a replayed venue's latency is market time: ms / the replay speed),
    so a marketable order fills in the step that sent it rather than one task later."""
    if not child.venue_id or getattr(clock, "wall_at", None) is None:
        return now
    arrival = child.sent_at + timedelta(milliseconds=float(child.venue.latency_ms))
    if arrival <= now:
        return now
    try:
        wait = (clock.wall_at(arrival) - timezone.now()).total_seconds()
    except ValueError:
        return now
    if wait > _INLINE_WAIT_S:
        return now
    if wait > 0:
        time.sleep(wait)
    return max(now, clock.market_now())


_INLINE_WAIT_S = 0.02


def child_work(*, child_id: int, seq: int | None = None, head: dict | None = None) -> str:
    """One step of working a child order (see the module docstring); returns what it did."""
    clock = get_clock()
    # The step's order writes are batched (each changed order written once, its events inserted together); the
    # venues are read once for the step.
    with _task_reads(), transaction.atomic(), order_writes_batched():
        if head is not None:
            portfolio, locked = _lock_all(head["portfolio_id"], *[i for i in (head["parent_id"], child_id) if i])
        else:
            portfolio = _lock_portfolio_of(child_id)
            if portfolio is None:
                return "missing"
            locked = _lock_child_and_parent(child_id)
        return _step(locked[-1], parent=locked[0] if len(locked) > 1 else None, portfolio=portfolio, seq=seq, clock=clock)


def _step(child: Order, *, parent: Order | None, portfolio: Portfolio, seq: int | None, clock, settle: bool = True) -> str:
    """``child_work``'s step on the rows it locked (portfolio, parent, child), inside its transaction. ``settle=False``:
    a sibling is worked next in this transaction (still open, so the parent cannot finish yet): leave the parent's
    settling to its step."""
    if states.is_terminal(child.status):
        return "terminal"
    if seq is not None and child.work_seq != seq:
        return "superseded"
    now = clock.market_now()
    if child.status == S.PENDING_CANCEL.value:
        venue_cancel(child, portfolio=portfolio, parent=parent, reason="cancelled on request")
        if settle:
            _settle_parent_of(child)
        return "cancelled"
    stamp = None
    if child.status == S.INITIALIZED.value:
        if child.due_at and now < child.due_at:
            _schedule(child, child.due_at, clock)
            return "waiting"
        if child.due_at and session_at(child.due_at).close <= now:
            _end_child(child, S.EXPIRED.value, "the session closed before the slice was sent")
            if settle:
                _settle_parent_of(child)
            return "expired"
        verdict = slice_check(child, parent, now)
        if not verdict.passed:
            why = "; ".join(verdict.reasons) or "refused by the pre-trade checks"
            order_transition_locked(child, states.DENIED, reason=f"slice denied before it went out: {why}"[:2000])
            _rest(child)
            if settle:
                _settle_parent_of(child)
            return "denied"
        stamp = verdict.stamp
        child.sent_at = now
        order_transition_locked(child, states.SUBMITTED, extra_fields=["sent_at"])
        # Market time moved while sending (a replayed venue's few ms of latency may be over).
        now = _arrival_now(clock, child, max(now, clock.market_now()))
    if stamp is None and _reports_by_push(child):
        # Already sent to a venue that reports by push (a redelivered task): its gateway applies what comes back.
        _rest(child)
        return "sent"
    result, reports, market = _replay(child, now, stamp=stamp)
    if result.status is S.SUBMITTED and not result.fills and stamp is not None:
        # A venue that reports by push (a FIX session): the gateway applies what comes back.
        _rest(child)
        return "sent"
    if result.status is S.REJECTED:
        why = result.reason or "rejected by the venue"
        _end_child(child, S.REJECTED.value, why)
        if parent is not None and _reroute(child, parent, why, clock, now):
            return "rerouted"
        if settle:
            _settle_parent_of(child)
        return "rejected"
    if child.status == S.SUBMITTED.value:
        order_transition_locked(child, states.ACCEPTED)
    # A child sent in this step has no fill booked yet: no need to read which trade ids it has.
    _apply_reports(child, reports, portfolio=portfolio, parent=parent, known=set() if stamp is not None else None)
    if states.is_terminal(child.status):
        _rest(child)
        if settle and (parent is None or not states.is_terminal(parent.status) or parent.proposal_id):
            _settle_parent_of(child)
        return "filled"
    if result.status in (S.EXPIRED, S.CANCELED, S.FILLED):
        _end_child(child, result.status.value if result.status is not S.FILLED else S.EXPIRED.value,
                   result.reason or "the venue stopped working it")
        if settle:
            _settle_parent_of(child)
        return "ended"
    # Next: the venue's arrival if the order is still on its way, else the next tick.
    latency = timedelta(milliseconds=float(child.venue.latency_ms)) if child.venue_id else timedelta(0)
    arrival = child.sent_at + latency
    nxt = arrival if now < arrival else market.next_tick(now)
    _schedule(child, nxt or now, clock)
    return "working"


def _reports_by_push(child: Order) -> bool:
    return bool(child.venue_id) and child.venue.kind != Venue.Kind.PAPER


def venue_client(child: Order, now: datetime):
    """(the client of ``child``'s venue, by the venue's kind, at market ``now``; the session's market)."""
    sym = child.instrument.symbol
    market = _session_market(session_at(child.sent_at or now), sym)
    client = load_environment(market=market, clock=lambda: now, lot_size=child.instrument.lot_size,
                              venue=child.venue if child.venue_id else None)
    return client, market


def execution_order(child: Order, *, stamp: str = "") -> ExecutionOrder:
    return ExecutionOrder(
        client_order_id=child.client_order_id, symbol=child.instrument.symbol, side=Side(child.side), quantity=child.quantity,
        venue=child.venue.code if child.venue_id else "", order_type=OrderType(child.order_type),
        limit_price=child.limit_price, time_in_force=TimeInForce(child.time_in_force), ts=child.sent_at, risk_stamp=stamp,
    )


def slice_check(child: Order, parent: Order | None, now: datetime, *, quantity: Decimal | None = None,
                limit_price: Decimal | None = None):
    """The gate's check of a slice (or of a slice's replace to ``quantity`` / ``limit_price``) before it
    goes to its venue; a passed verdict carries the seal the venue client asks for. Caller holds the locks."""
    sym = child.instrument.symbol
    try:
        mark = market_state(_session_market(session_at(now), sym), sym, now).mark
        ref = Decimal(str(mark)).quantize(Decimal("0.000001"))
    except LookupError:
        ref = None
    intent = replace(
        intent_of(child, reference_price=ref, ts=now),
        quantity=child.quantity if quantity is None else quantity,
        limit_price=child.limit_price if limit_price is None else limit_price,
    )
    try:
        return ports.pretrade_gate().check_slice(
            portfolio_id=child.portfolio_id, intent=intent, order_id=child.pk,
            parent_client_order_id=parent.client_order_id if parent is not None else child.client_order_id,
        )
    except LookupError as exc:  # a held instrument without a price: fail closed
        return RiskVerdict(passed=False, breaches=(LimitBreach(None, "mark", "mark", "block", 0.0, float("nan"), f"cannot value the book: {exc}"),))


def _replay(child: Order, now: datetime, *, stamp: str | None = None):
    """The venue's view of ``child`` at ``now`` (sending it first when ``stamp`` is given): (result, fills so far, market)."""
    client, market = venue_client(child, now)
    if stamp is not None:
        result = client.submit(execution_order(child, stamp=stamp))
    else:
        result = client.status(child.client_order_id)
    return result, [r for r in result.fills if r.ts_event <= now], market


def venue_cancel(child: Order, *, portfolio: Portfolio, parent: Order | None, actor=None, reason: str = "cancelled on request") -> None:
    """Cancel ``child`` at its venue (it is PENDING_CANCEL, or resting). The fills the venue made up to
    now are booked first; then CANCELED with the venue's confirmation time, or, when the venue refuses
    (it had finished), back to where it was with the venue's reason. An order the venue never got is
    simply CANCELED. A venue that confirms later (over a session) leaves it PENDING_CANCEL. Caller
    holds the portfolio, parent and child locks."""
    if child.status == S.INITIALIZED.value:  # never sent: nothing at a venue
        order_transition_locked(child, states.CANCELED, actor=actor, reason=reason)
        _rest(child)
        return
    if child.status != S.PENDING_CANCEL.value:
        order_transition_locked(child, states.PENDING_CANCEL, actor=actor, reason=reason)
    now = get_clock().market_now()
    client, _ = venue_client(child, now)
    result = client.cancel(child.client_order_id)
    _apply_reports(child, [f for f in result.fills if f.ts_event <= now], portfolio=portfolio, parent=parent)
    if states.is_terminal(child.status):  # the last fills finished it: the cancel came too late
        _rest(child)
        return
    venue = child.venue.code if child.venue_id else "the venue"
    if result.refused == "unknown order":
        order_transition_locked(child, states.CANCELED, actor=actor, reason=f"{reason} (not at {venue})")
    elif result.refused:
        order_transition_locked(child, states.CANCEL_REJECTED, actor=actor, reason=f"{venue} refused the cancel: {result.refused}",
                                venue_ts=result.ts)
        if result.status in (S.EXPIRED, S.CANCELED, S.FILLED):
            _end_child(child, S.EXPIRED.value if result.status is not S.CANCELED else S.CANCELED.value, result.reason or result.refused)
    elif result.status is S.PENDING_CANCEL:
        return  # asked over a session: the venue's report confirms or refuses it later
    elif result.status is S.CANCELED:
        when = result.ts.isoformat(timespec="milliseconds") if result.ts else "?"
        order_transition_locked(child, states.CANCELED, actor=actor, reason=f"{reason}; confirmed by {venue} at {when}",
                                venue_ts=result.ts)
    else:
        return  # the venue confirms later
    _rest(child)


def venue_replace(child: Order, *, portfolio: Portfolio, parent: Order | None, actor=None,
                  quantity: Decimal | None = None, limit_price: Decimal | None = None) -> str:
    """Replace ``child``'s quantity and/or limit at its venue (PENDING_UPDATE, then UPDATED or MODIFY_REJECTED);
    the replace passes the slice check for what the order becomes and carries its seal. Returns the refusal
    ("" when the venue took it). Caller holds the portfolio, parent and child locks."""
    changes = {k: v for k, v in (("quantity", quantity), ("limit_price", limit_price)) if v is not None}
    if child.status == S.INITIALIZED.value:  # not at a venue yet: change it in place
        Order.objects.filter(pk=child.pk).update(**changes)
        for k, v in changes.items():
            setattr(child, k, v)
        return ""
    order_transition_locked(child, states.PENDING_UPDATE, actor=actor)
    now = get_clock().market_now()
    verdict = slice_check(child, parent, now, quantity=quantity, limit_price=limit_price)
    if not verdict.passed:
        why = "; ".join(verdict.reasons) or "refused by the pre-trade checks"
        order_transition_locked(child, states.MODIFY_REJECTED, actor=actor, reason=f"replace denied: {why}"[:2000])
        return why
    client, _ = venue_client(child, now)
    result = client.amend(child.client_order_id, quantity=quantity, limit_price=limit_price, risk_stamp=verdict.stamp)
    _apply_reports(child, [f for f in result.fills if f.ts_event <= now], portfolio=portfolio, parent=parent)
    if states.is_terminal(child.status):
        return "the order finished before the replace"
    venue = child.venue.code if child.venue_id else "the venue"
    if result.refused:
        order_transition_locked(child, states.MODIFY_REJECTED, actor=actor, reason=f"{venue} refused the replace: {result.refused}",
                                venue_ts=result.ts)
        return result.refused
    if result.status is S.PENDING_UPDATE:
        return ""  # asked over a session: the venue's report applies or refuses it later
    fresh = order_apply_event(order_id=child.pk, event=states.UPDATED, actor=actor, venue_ts=result.ts, **changes)
    child.status, child.quantity, child.limit_price = fresh.status, fresh.quantity, fresh.limit_price
    if result.status is S.FILLED and fresh.filled_qty == fresh.quantity:
        _rest(child)
    return ""


def _apply_reports(child: Order, reports, *, portfolio: Portfolio | None = None, parent: Order | None = None,
                   known: set[str] | None = None) -> int:
    """Apply fills not yet recorded, never past the child's quantity (an amended child replays
    with its new size, and the fills already booked stand). The caller holds the locks of
    ``portfolio``, ``parent`` and ``child`` (so no other writer can record these trade ids);
    without ``portfolio`` they are taken here."""
    if not reports:
        return 0
    if portfolio is None:
        with transaction.atomic():
            ids = [i for i in (child.parent_id, child.pk) if i]
            portfolio, locked = _lock_all(child.portfolio_id, *ids)
            return _apply_reports(locked[-1], reports, portfolio=portfolio, parent=locked[0] if len(locked) > 1 else None)
    if known is None:
        known = set(Fill.objects.filter(order=child).values_list("trade_id", flat=True))
    leaves = child.quantity - child.filled_qty
    applied = 0
    for r in reports:
        if r.trade_id in known:
            continue
        if leaves <= 0:
            break
        if r.last_qty > leaves:
            r = replace(r, last_qty=leaves)
        fill_apply_locked(portfolio=portfolio, order=child, parent=parent, report=r)
        leaves -= r.last_qty
        applied += 1
    return applied


def _settle_parent_of(child: Order) -> None:
    if child.parent_id:
        parent_settle(parent_id=child.parent_id)


def parent_settle(*, parent_id: int) -> Order:
    """Finish a parent whose children are all terminal (FILLED came with the last fill; otherwise
    CANCELED if it was being cancelled or nothing but cancellations ended it, else EXPIRED),
    and complete its proposal when that was the proposal's last open order. Caller holds the
    portfolio lock."""
    order_writes_flush()  # the parent and its children are read as written
    parent = Order.objects.select_for_update().get(pk=parent_id)
    if not states.is_terminal(parent.status) and parent.status not in (S.INITIALIZED.value, S.SUBMITTED.value):
        children = list(parent.children.values_list("status", "reason"))
        if not any(st in OPEN_STATUSES for st, _ in children):
            unfilled = parent.quantity - parent.filled_qty
            reasons = sorted({r for st, r in children if st != S.FILLED.value and r})
            why = f"{unfilled} unfilled" + (f": {'; '.join(reasons)}" if reasons else "")
            if children and all(st == S.REJECTED.value for st, _ in children):
                why = f"no venue took it ({why})"
            cancelled = parent.status == S.PENDING_CANCEL.value or (
                children and all(st in (S.CANCELED.value, S.REJECTED.value) for st, _ in children)
            )
            parent = order_apply_event(
                order_id=parent.pk, event=states.CANCELED if cancelled else states.EXPIRED, reason=why[:2000]
            )
    if states.is_terminal(parent.status) and parent.proposal_id:
        proposal_settle(proposal_id=parent.proposal_id)
    return parent


def proposal_settle(*, proposal_id: int):
    """The one completion rule: APPROVED/EXECUTING → COMPLETED once every parent order is terminal.

    Records the filled share: filled notional over ordered notional at each order's
    arrival price (its quantity where it has none), 1 for a proposal with nothing to
    trade. Safe to call any number of times; returns the proposal.
    """
    order_writes_flush()  # its orders are read as written
    p = RebalanceProposal.objects.get(pk=proposal_id)
    if p.status not in PROPOSAL_TABLE.sources(ProposalStatus.COMPLETED.value):
        return p
    parents = list(Order.objects.filter(proposal_id=proposal_id, parent__isnull=True)
                   .values_list("status", "quantity", "filled_qty", "arrival_px"))
    if any(status in OPEN_STATUSES for status, *_ in parents):
        return p
    ordered = sum((q * (px or 1) for _, q, _, px in parents), Decimal(0))
    filled = sum((f * (px or 1) for _, _, f, px in parents), Decimal(0))
    share = (filled / ordered).quantize(Decimal("0.000001")) if ordered else Decimal(1)
    try:
        return proposal_transition(proposal_id=proposal_id, to="COMPLETED", filled_share=share)
    except IllegalTransition:
        return RebalanceProposal.objects.get(pk=proposal_id)  # completed (or failed) by someone else


def orders_sweep(*, grace_seconds: float | None = None, limit: int = 500) -> dict[str, int]:
    """Re-enqueue what a lost message left behind: children whose expected task is overdue
    and parents stuck SUBMITTED (routing never ran). A child waiting for its due time has
    ``wake_at`` in the future and is never touched."""
    grace = float(getattr(settings, "DESK_ORDER_SWEEP_GRACE_SECONDS", 20.0) if grace_seconds is None else grace_seconds)
    cutoff = timezone.now() - timedelta(seconds=grace)
    child_ids = list(
        Order.objects.filter(parent__isnull=False, status__in=OPEN_STATUSES, wake_at__lte=cutoff)
        .order_by("wake_at").values_list("id", flat=True)[:limit]
    )
    requeued = 0
    for cid in child_ids:
        with transaction.atomic():
            child = Order.objects.select_for_update().filter(pk=cid, wake_at__lte=cutoff, status__in=OPEN_STATUSES).first()
            if child is None:
                continue
            child.work_seq += 1  # the lost chain, should it wake after all, exits as superseded
            child.wake_at = timezone.now()
            child.save(update_fields=["work_seq", "wake_at"])
            dispatch.work_after_commit(child.pk, child.work_seq)
            requeued += 1
    parents = list(
        Order.objects.filter(parent__isnull=True, status=S.SUBMITTED.value, updated_at__lte=cutoff).values_list("id", flat=True)[:limit]
    )
    for pid in parents:
        with transaction.atomic():
            dispatch.route_after_commit(pid)
    return {"children": requeued, "parents": len(parents)}


__all__ = [
    "child_client_id", "child_work", "execution_order", "intent_of", "order_route", "orders_sweep", "parent_settle",
    "proposal_settle", "slice_check", "venue_cancel", "venue_client", "venue_replace", "wall_for",
]
