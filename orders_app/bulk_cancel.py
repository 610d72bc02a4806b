"""Cancelling every open order of a portfolio in one go (services): the kill switch's and "cancel all"'s path.

``order_cancel`` one parent at a time costs a transaction, its locks, a venue call, and a statement per
transition, event and settle for each order: ~50 ms an order, 50 s for a HALT of a thousand. Here one
transaction per portfolio does what those calls would do, with the same rules and the same outcome:

- the portfolio row is locked once, then every open parent and every child of them (``select_for_update``, by id:
  a parent before its children, the locking order of ``orders_app``), read in two queries;
- each move is the order state machine's (``states.order_next``, as ``services._transition`` applies it, with
  the reservation released on a terminal status), made on the rows in hand in the order ``order_cancel`` makes
  them (``working.venue_cancel`` for a child, ``working.parent_settle`` for a parent);
- the venues are asked at once (``cancel_many`` of the venue-client port: the paper venue reads and writes its
  book in one statement each; the default asks order by order), one client per venue kind and session;
- the orders, their events and the released reservations are written in one statement each, the exposure
  re-valued once after commit; the browsers get one push per changed order (its state as committed), after
  commit, as one batch.

What a venue answers is handled as ``venue_cancel`` handles it: fills it made first are booked (through
``fill_apply_locked``, after the moves in hand are written, so the rows it reads and writes are current), a
refusal puts the order back where it was with the venue's reason, a venue that confirms later (a FIX session)
leaves it PENDING_CANCEL. Should a move turn out illegal (a row changed in a way this path does not expect),
nothing of the batch is kept (``submission.orders_cancel_all`` then cancels the orders one by one).
"""

from __future__ import annotations

from collections import defaultdict

import structlog
from django.db import transaction
from django.utils import timezone

from desk import groups, metrics
from desk.bulk import rows_insert, rows_update
from desk.events import event_publish_many
from desk.interfaces import OrderStatus
from desk.lifecycle import transition
from market_app.clock import get_clock
from market_app.marks import session_at, session_market
from orders_app import states
from orders_app.models import Fill, Order, OrderEvent
from orders_app.releases import RELEASING, exposure_release_on_commit
from orders_app.reservations import reservation_on_transition
from orders_app.services import order_payload
from orders_app.states import OPEN_STATUSES
from orders_app.venues import load_environment
from orders_app.working import _apply_reports, proposal_settle
from portfolio_app.models import Portfolio

log = structlog.get_logger("desk.orders")
S = OrderStatus

_FIELDS = ("status", "previous_status", "reason", "reserved_cash", "wake_at", "updated_at")
# The events whose reason the order keeps (as ``services._transition``).
_KEEPS_REASON = (states.DENIED, states.REJECTED, states.CANCELED, states.EXPIRED, states.MODIFY_REJECTED, states.CANCEL_REJECTED)


def orders_cancel_bulk(*, portfolio_id: int, actor=None, reason: str = "cancel all") -> int:
    """Cancel every open parent order of a portfolio, and their open children, in one transaction; returns
    how many parents it cancelled. The caller has authorised ``actor``. Locks the portfolio, the parents and
    their children (see the module docstring). ``states.IllegalTransition`` when a row was not as this path
    expects: nothing of the batch is kept, and the caller cancels the orders one by one instead."""
    with transaction.atomic():
        return _Batch(portfolio_id, actor, reason).run()


def _latest_due_first(c: Order) -> tuple:
    # ``order_by("-due_at", "-id")`` as PostgreSQL sorts it: a child with no due time first.
    return (c.due_at is None, c.due_at.timestamp() if c.due_at else 0.0, c.pk)


class _Batch:
    """One portfolio's cancels: the rows in hand, the moves made on them, and what is still to write."""

    def __init__(self, portfolio_id: int, actor, reason: str):
        self.portfolio_id, self.actor, self.reason = portfolio_id, actor, reason
        self.dirty: dict[int, Order] = {}
        self.events: dict[int, list[OrderEvent]] = defaultdict(list)  # by parent: the order order_cancel writes them in
        self.counts: list[tuple[str]] = []
        self.pushed: dict[int, Order] = {}
        self.released = False

    # -- the moves, in hand

    def move(self, order: Order, event: str, *, actor=None, reason: str = "", venue_ts=None) -> None:
        """``services._transition`` on a row in hand: the state machine's move, its event, reservation, metric and push."""
        new_status, new_previous = states.order_next(order.status, event, previous=order.previous_status,
                                                     filled_qty=order.filled_qty, quantity=order.quantity)
        from_status = order.status
        reservation_on_transition(order, new_status)
        order.status, order.previous_status = new_status, new_previous
        if reason and event in _KEEPS_REASON:
            order.reason = reason
        self.dirty[order.pk] = order
        self.events[order.parent_id or order.pk].append(OrderEvent(
            order=order, event=event, from_status=from_status, to_status=new_status, actor=actor, reason=reason,
            venue_ts=venue_ts))
        if new_status != from_status:
            self.counts.append((new_status,))
        if not self.released and order.parent_id is None and event in RELEASING:
            exposure_release_on_commit(order, event)  # once: it re-values the whole portfolio
            self.released = True
        self.pushed[order.pk] = order

    def wake_off(self, order: Order) -> None:
        order.wake_at = None
        self.dirty[order.pk] = order

    # -- writing

    def flush(self) -> None:
        """Write the moves in hand: the orders in one statement, their events in one insert."""
        if self.dirty:
            now = timezone.now()
            rows = sorted(self.dirty.values(), key=lambda o: o.pk)
            for o in rows:
                o.updated_at = now
            with transition(Order.LIFECYCLE):  # every status written here is the state machine's (``move``)
                rows_update(Order, rows, _FIELDS)
        events = [e for block in self.events.values() for e in block]
        rows_insert(OrderEvent, events)
        self.dirty, self.events = {}, defaultdict(list)

    # -- the run

    def run(self) -> int:
        portfolio = Portfolio.objects.select_for_update().get(pk=self.portfolio_id)
        parents = list(Order.objects.select_for_update(of=("self",)).select_related("instrument", "venue")
                       .filter(portfolio_id=self.portfolio_id, parent__isnull=True, status__in=OPEN_STATUSES).order_by("id"))
        if not parents:
            return 0
        children: dict[int, list[Order]] = defaultdict(list)
        for c in (Order.objects.select_for_update(of=("self",)).select_related("instrument", "venue")
                  .filter(parent__in=[p.pk for p in parents]).order_by("id")):
            children[c.parent_id].append(c)
        by_id = {p.pk: p for p in parents}
        actor, reason = self.actor, self.reason
        settle: list[Order] = []
        to_venue: list[Order] = []
        for parent in parents:
            if parent.status == S.INITIALIZED.value:  # never submitted: nothing works it
                self.move(parent, states.CANCELED, actor=actor, reason=reason)
                continue
            if parent.status != S.PENDING_CANCEL.value:
                self.move(parent, states.PENDING_CANCEL, actor=actor, reason=reason)
            # Latest due first, as ``order_cancel`` takes them.
            for child in sorted((c for c in children[parent.pk] if c.status in OPEN_STATUSES),
                                key=_latest_due_first, reverse=True):
                if child.status == S.INITIALIZED.value:  # never sent: nothing at a venue
                    self.move(child, states.CANCELED, actor=actor, reason=reason)
                    self.wake_off(child)
                    continue
                if child.status != S.PENDING_CANCEL.value:
                    self.move(child, states.PENDING_CANCEL, actor=actor, reason=reason)
                to_venue.append(child)
            if not children[parent.pk]:  # not routed yet: nothing to wait for
                self.move(parent, states.CANCELED, actor=actor, reason=reason)
            settle.append(parent)
        now = get_clock().market_now()
        results = self._cancel_at_venues(to_venue, now)
        self._known = self._booked(to_venue, results)
        for child in to_venue:
            self._answer(child, results[child.pk], now, portfolio=portfolio, parent=by_id[child.parent_id])
        proposals: dict[int, None] = {}
        for parent in settle:
            self._settle(parent, children[parent.pk])
            if states.is_terminal(parent.status) and parent.proposal_id:
                proposals[parent.proposal_id] = None
        self.flush()
        for pid in proposals:  # reads the parents as written
            proposal_settle(proposal_id=pid)
        counts = self.counts
        if counts:
            transaction.on_commit(lambda: [metrics.orders.labels(c[0]).inc() for c in counts])
        if self.pushed:
            event_publish_many(event_type="order.updated", payloads=[order_payload(o) for o in self.pushed.values()],
                               group=groups.portfolio(self.portfolio_id))
        log.info("orders.bulk_cancelled", portfolio_id=self.portfolio_id, parents=len(parents), at_venues=len(to_venue),
                 changed=len(self.pushed))
        return len(parents)

    def _cancel_at_venues(self, to_venue: list[Order], now) -> dict[int, object]:
        """Every child's venue answer: one ``cancel_many`` per venue client (a client per kind of venue, per FIX
        venue, per session and lot size, as ``working.venue_client`` builds one per child)."""
        by_client: dict[tuple, list[Order]] = defaultdict(list)
        for c in to_venue:
            kind = getattr(c.venue, "kind", "paper") if c.venue_id else "paper"
            key = (kind, c.venue_id if kind != "paper" else None, session_at(c.sent_at or now), c.instrument.lot_size)
            by_client[key].append(c)
        results: dict[int, object] = {}
        for (_kind, _venue, session, lot), batch in by_client.items():
            market = session_market(session, sorted({c.instrument.symbol for c in batch}))
            client = load_environment(market=market, clock=lambda: now, lot_size=lot,
                                      venue=batch[0].venue if batch[0].venue_id else None)
            answers = client.cancel_many([c.client_order_id for c in batch])
            for c in batch:
                results[c.pk] = answers[c.client_order_id]
        return results

    @staticmethod
    def _booked(to_venue: list[Order], results) -> dict[int, set[str]]:
        """The trade ids already booked of the children whose venue answer carries fills (one query)."""
        ids = [c.pk for c in to_venue if results[c.pk].fills]
        known: dict[int, set[str]] = defaultdict(set)
        if ids:
            for oid, trade_id in Fill.objects.filter(order_id__in=ids).values_list("order_id", "trade_id"):
                known[oid].add(trade_id)
        return known

    def _answer(self, child: Order, result, now, *, portfolio, parent: Order) -> None:
        """``working.venue_cancel`` after the venue's answer, on the rows in hand."""
        actor, reason = self.actor, self.reason
        new = [f for f in result.fills if f.ts_event <= now and f.trade_id not in self._known[child.pk]]
        if new:  # the venue filled some before it cancelled: booked as ``venue_cancel`` books them
            self.flush()
            _apply_reports(child, new, portfolio=portfolio, parent=parent)
            self.pushed[child.pk], self.pushed[parent.pk] = child, parent
        if states.is_terminal(child.status):  # the last fills finished it: the cancel came too late
            self.wake_off(child)
            return
        venue = child.venue.code if child.venue_id else "the venue"
        if result.refused == "unknown order":
            self.move(child, states.CANCELED, actor=actor, reason=f"{reason} (not at {venue})")
        elif result.refused:
            self.move(child, states.CANCEL_REJECTED, actor=actor, reason=f"{venue} refused the cancel: {result.refused}",
                      venue_ts=result.ts)
            if result.status in (S.EXPIRED, S.CANCELED, S.FILLED):
                self._end(child, S.EXPIRED.value if result.status is not S.CANCELED else S.CANCELED.value,
                          result.reason or result.refused)
        elif result.status is S.PENDING_CANCEL:
            return  # asked over a session: the venue's report confirms or refuses it later
        elif result.status is S.CANCELED:
            when = result.ts.isoformat(timespec="milliseconds") if result.ts else "?"
            self.move(child, states.CANCELED, actor=actor, reason=f"{reason}; confirmed by {venue} at {when}",
                      venue_ts=result.ts)
        else:
            return  # the venue confirms later
        self.wake_off(child)

    def _end(self, child: Order, status: str, why: str) -> None:
        """``working._end_child`` on the row in hand."""
        event = states.CANCELED if status in (S.CANCELED.value, S.REJECTED.value) else states.EXPIRED
        if status == S.REJECTED.value and child.status == S.SUBMITTED.value:
            event = states.REJECTED
        self.move(child, event, reason=why)
        self.wake_off(child)

    def _settle(self, parent: Order, children: list[Order]) -> None:
        """``working.parent_settle`` on the rows in hand (the proposal is completed after the writes)."""
        if states.is_terminal(parent.status) or parent.status in (S.INITIALIZED.value, S.SUBMITTED.value):
            return
        if any(c.status in OPEN_STATUSES for c in children):
            return
        unfilled = parent.quantity - parent.filled_qty
        reasons = sorted({c.reason for c in children if c.status != S.FILLED.value and c.reason})
        why = f"{unfilled} unfilled" + (f": {'; '.join(reasons)}" if reasons else "")
        if children and all(c.status == S.REJECTED.value for c in children):
            why = f"no venue took it ({why})"
        cancelled = parent.status == S.PENDING_CANCEL.value or (
            children and all(c.status in (S.CANCELED.value, S.REJECTED.value) for c in children))
        self.move(parent, states.CANCELED if cancelled else states.EXPIRED, reason=why[:2000])


__all__ = ["orders_cancel_bulk"]
