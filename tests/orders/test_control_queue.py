"""The control path: the kill switch's cancels travel on their own queue, served by a worker of their own,
never behind the order flow's backlog. A real Celery worker on the real broker; the routing queue holds
500 routing tasks that no worker is free to take (the routing workers saturated)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.orders.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

BACKLOG = 500


def _mark(book, symbol):
    from market_app.marks import market_state, session_at, session_market

    now = book[2].market_now()
    return market_state(session_market(session_at(now), [symbol]), symbol, now).mark


def _resting(book, enqueued, symbol, qty):
    """A LIMIT buy 4% under the mark: accepted at the venue, resting there."""
    from orders_app.submission import order_place

    portfolio, trader, clock = book
    limit = (_mark(book, symbol) * Decimal("0.96")).quantize(Decimal("0.01"))
    order = order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side="BUY", quantity=Decimal(qty),
                        order_type="LIMIT", limit_price=limit)
    drain(enqueued)
    clock.step(60)
    drain(enqueued)
    return order


@pytest.fixture
def control_worker(transactional_db):
    """A real Celery worker (threads pool) consuming only the control queue, as the Procfile's ``control`` process."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from config.celery import app

    app.conf.task_always_eager = False
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, queues=[settings.DESK_CONTROL_QUEUE],
                      shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker


@pytest.fixture
def routing_backlog():
    """``BACKLOG`` routing tasks waiting on the routing queue (emptied afterwards): the order flow's backlog."""
    from config.celery import app
    from orders_app.tasks import orders_ping

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("routing")
        for _ in range(BACKLOG):
            orders_ping.apply_async(connection=conn)
        yield lambda: conn.default_channel.client.llen("routing")
        conn.default_channel.queue_purge("routing")


def _wait(pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_kill_switch_when_the_routing_queue_holds_a_backlog_then_the_control_worker_cancels_every_order_first(
        book, enqueued, routing_backlog, control_worker, monkeypatch):
    from django.contrib.auth import get_user_model

    from market_app.models import PaperBookOrder
    from orders_app import dispatch
    from orders_app.models import Order
    from risk_app.services.state import trading_state_set

    parents = [_resting(book, enqueued, "KO", 500), _resting(book, enqueued, "AAPL", 100)]
    children = Order.objects.filter(parent__in=parents)
    assert children.count() >= 2 and set(children.values_list("status", flat=True)) == {"ACCEPTED"}
    monkeypatch.undo()  # from here on the services enqueue for real, to the broker
    assert dispatch.cancels_after_commit.__module__ == "orders_app.dispatch"
    assert routing_backlog() == BACKLOG

    trading_state_set(scope="desk", state="HALTED", actor=get_user_model().objects.get(username="risk"), reason="drill")

    assert _wait(lambda: set(Order.objects.filter(pk__in=[p.pk for p in parents]).values_list("status", flat=True)) == {"CANCELED"})
    assert set(children.values_list("status", flat=True)) == {"CANCELED"}
    assert set(PaperBookOrder.objects.filter(client_order_id__in=children.values_list("client_order_id", flat=True))
               .values_list("status", flat=True)) == {"CANCELED"}
    # Served while every routing task still waits: the cancels did not queue behind them.
    assert routing_backlog() == BACKLOG


def test_cancel_when_the_routing_queue_holds_a_backlog_then_the_trader_s_cancel_is_confirmed_by_the_venue_at_once(
        book, enqueued, routing_backlog, control_worker, monkeypatch):
    from rest_framework.test import APIClient

    from market_app.models import PaperBookOrder
    from orders_app.models import Order

    order = _resting(book, enqueued, "KO", 300)
    child = Order.objects.get(parent=order)
    assert child.status == "ACCEPTED"
    monkeypatch.undo()
    api = APIClient()
    api.force_authenticate(book[1])

    r = api.post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "changed my mind"}, format="json")

    # The cancel is carried out in the request itself: at the venue and confirmed, with no task to wait for.
    assert r.status_code == 200 and r.json()["status"] == "CANCELED"
    child.refresh_from_db()
    assert child.status == "CANCELED" and child.events.get(event="CANCELED").venue_ts is not None
    assert PaperBookOrder.objects.get(client_order_id=child.client_order_id).status == "CANCELED"
    assert routing_backlog() == BACKLOG
