"""The lean order path: what one submit, one routing and one basket cost in database round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)

SUBMIT_QUERIES = 10


def _place(book, symbol="AAPL", qty=500, **kw):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=kw.pop("side", "BUY"), quantity=Decimal(qty), **kw)


def test_order_place_when_a_manual_order_passes_then_submitted_in_at_most_ten_queries(book, enqueued):
    _place(book, "AAPL", 10)  # the per-process caches (limits engine, marks, calendar) warm, as on a running desk
    with CaptureQueriesContext(connection) as ctx:
        order = _place(book, "AAPL", 500)
    order.refresh_from_db()
    assert order.status == "SUBMITTED" and [e.event for e in order.events.order_by("id")] == ["INITIALIZED", "SUBMITTED"]
    statements = [q["sql"] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]  # one transaction
    assert sum(q == "BEGIN" for q in (c["sql"] for c in ctx.captured_queries)) == 1
    assert len(statements) <= SUBMIT_QUERIES, "\n".join(q[:160] for q in statements)


WORKER_QUERIES = 14  # route (lock, plan, persist) and the slice sent, filled and settled in one transaction; 32 before issue 19, then 16


def _worker_statements(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries
            if q["sql"] not in ("BEGIN", "COMMIT") and not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_order_route_when_an_immediate_market_order_then_routed_worked_and_filled_in_a_bounded_number_of_queries(book, enqueued):
    from orders_app.models import Order, Venue
    from orders_app.working import order_route

    # The stepped clock does not move while the order travels: venues without latency fill it in the step that sends it,
    # as the replayed clock's few wall microseconds of latency do on a running desk.
    Venue.objects.update(latency_ms=0)
    warm = _place(book, "AAPL", 10)  # the worker's per-process caches warm on a first order, as on a running desk
    order_route(parent_id=warm.pk, work_due_inline=True)
    order = _place(book, "AAPL", 500)
    enqueued.clear()
    with CaptureQueriesContext(connection) as ctx:
        order_route(parent_id=order.pk, work_due_inline=True)
    order.refresh_from_db()
    assert order.status == "FILLED" and order.filled_qty == Decimal(500)
    (child,) = Order.objects.filter(parent=order)
    assert child.status == "FILLED" and child.wake_at is None
    assert [e.event for e in child.events.order_by("id")] == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "FILLED"]
    assert [e.event for e in order.events.order_by("id")] == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "FILLED"]
    assert enqueued == []  # worked inline: no second task
    statements = _worker_statements(ctx)
    assert len(statements) <= WORKER_QUERIES, "\n".join(q[:160] for q in statements)


def test_order_route_when_an_immediate_market_order_fills_then_each_order_is_pushed_once_as_committed(book, enqueued, monkeypatch):
    from desk import events
    from orders_app.models import Order, Venue
    from orders_app.working import order_route

    Venue.objects.update(latency_ms=0)  # filled in the step that sends it (see above)
    order = _place(book, "AAPL", 500)
    pushed = []
    monkeypatch.setattr(events, "send_now", lambda event_type, payload, groups: pushed.append((event_type, events.jsonable(payload))))

    order_route(parent_id=order.pk, work_due_inline=True)

    (child,) = Order.objects.filter(parent=order)
    # One transaction from SUBMITTED to FILLED: the browsers get each order once, as it stands at the commit, then the fill.
    assert [(t, p.get("id"), p.get("status")) for t, p in pushed] == [
        ("order.updated", order.pk, "FILLED"), ("order.updated", child.pk, "FILLED"), ("fill.created", None, None)]
    assert pushed[0][1]["filled_qty"] == "500.0000" and pushed[2][1]["order_id"] == child.pk


@pytest.mark.parametrize("send", ["route", "work", "cancels"])
def test_dispatch_when_a_routing_task_is_sent_then_fire_and_forget_without_a_result_subscription(send, monkeypatch,
                                                                                                  django_capture_on_commit_callbacks):
    """The routing tasks store no result: the sender must not subscribe to one (the Redis result backend's SUBSCRIBE and,
    when the result is dropped, UNSUBSCRIBE: two round trips per order on the web side, for a result never written)."""
    from celery import current_app

    from orders_app import dispatch

    app = current_app._get_current_object()
    subscribed, messages = [], []
    monkeypatch.setattr(type(app.backend), "on_task_call", lambda self, producer, task_id: subscribed.append(task_id))
    monkeypatch.setattr(app.amqp, "send_task_message", lambda producer, name, message, **kw: messages.append((name, message)))
    with django_capture_on_commit_callbacks(execute=True):
        {"route": lambda: dispatch.route_after_commit(10**9), "work": lambda: dispatch.work_after_commit(10**9, 1),
         "cancels": lambda: dispatch.cancels_after_commit([10**9], actor_id=None, reason="test")}[send]()
    assert subscribed == []
    ((name, message),) = messages
    assert name.startswith("orders_app.tasks.") and message.headers["ignore_result"] is True


SPLIT_QUERIES = 22  # two slices worked in the routing transaction, the parent settled once, by the last; 29, then 25 before


def test_order_route_when_an_immediate_order_splits_over_two_venues_then_both_worked_and_the_parent_settled_once(book, enqueued):
    from orders_app.models import Order, Venue
    from orders_app.working import order_route

    Venue.objects.update(latency_ms=0)  # filled in the step that sends it (see above)
    warm = _place(book, "KO", 10)
    order_route(parent_id=warm.pk, work_due_inline=True)
    order = _place(book, "KO", 3000)  # more than the dark pool is expected to take: split with a lit venue
    enqueued.clear()
    with CaptureQueriesContext(connection) as ctx:
        order_route(parent_id=order.pk, work_due_inline=True)
    order.refresh_from_db()
    children = list(Order.objects.filter(parent=order).order_by("id"))
    assert len(children) == 2 and {c.status for c in children} == {"FILLED"} and all(c.wake_at is None for c in children)
    assert order.status == "FILLED" and order.filled_qty == Decimal(3000) == sum(c.filled_qty for c in children)
    assert [e.event for e in order.events.order_by("id")] == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "FILLED", "FILLED"]
    for c in children:
        assert [e.event for e in c.events.order_by("id")] == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "FILLED"]
    assert enqueued == []
    statements = _worker_statements(ctx)
    # The children and their parent (settled once, by the last slice) written once, in one statement with their events.
    writes = [s for s in statements if 'UPDATE "orders_app_order"' in s]
    assert len(writes) == 1 and 'INSERT INTO "orders_app_orderevent"' in writes[0], "\n".join(q[:160] for q in statements)
    assert len(statements) <= SPLIT_QUERIES, "\n".join(q[:160] for q in statements)


def test_lock_all_when_a_parent_and_its_child_then_locked_in_one_statement_each_with_instrument_and_venue_in_hand(book, enqueued):
    from django.db import transaction

    from orders_app.models import Order, Venue
    from orders_app.working import _lock_all, _lock_child_and_parent, _lock_portfolio_of, order_route

    portfolio = book[0]
    order = _place(book, "KO", 3000)
    Venue.objects.update(latency_ms=0)
    order_route(parent_id=order.pk, work_due_inline=True)
    child = Order.objects.filter(parent=order).order_by("id").first()
    for _ in range(2):  # the first call compiles the statements, the second reuses them
        with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
            assert _lock_portfolio_of(order.pk, parent_only=True) == portfolio
            assert _lock_portfolio_of(child.pk, parent_only=True) is None  # not a parent
            locked_portfolio, (parent, locked) = _lock_all(portfolio.pk, order.pk, child.pk)
            (alone,) = _lock_all(locked_portfolio, child.pk)[1]
            pair = _lock_child_and_parent(child.pk)
        assert locked_portfolio == portfolio and locked_portfolio.cash == type(portfolio).objects.get(pk=portfolio.pk).cash
        assert [parent, locked] == pair == [order, child] and alone == child
        for o in (parent, locked, alone, *pair):
            assert o.instrument.symbol == "KO" and o.quantity == Order.objects.get(pk=o.pk).quantity
        assert locked.venue.code == child.venue.code and parent.venue is None and locked.algo_params == child.algo_params
        statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
        assert len(statements) == 6 and all("FOR UPDATE" in s for s in statements), statements
    with transaction.atomic():
        with pytest.raises(Order.DoesNotExist):
            _lock_all(portfolio, 10**9)
        with pytest.raises(Order.DoesNotExist):
            _lock_child_and_parent(10**9)
        assert _lock_portfolio_of(10**9) is None
