"""The order lifecycle through a real Celery worker, real Redis and the real database:
orders (manual and a proposal's) -> routing task -> children -> fills -> positions and cash to
the cent, every fill pushed to a trader's websocket; a duplicated routing task adds nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def replay_book(demo_small, settings):
    """The demo book on the demo's replay clock (600 wall s per session), 30 minutes into 2022-03-01."""
    from django.contrib.auth import get_user_model

    from ops_app import demo
    from desk.clock import ReplayClock
    from market_app.clock import set_clock
    from market_app.marks import clear_cache
    from portfolio_app.models import Portfolio

    settings.DESK_ORDER_POLL_SECONDS = 0.2
    set_clock(ReplayClock("2022-03-01", 600, timezone.now() - timedelta(seconds=600 * 30 / 390)))
    clear_cache()
    yield Portfolio.objects.get(name=demo.DEMO_PORTFOLIO), get_user_model().objects.get(username="trader")
    set_clock(None)
    clear_cache()


def _wait_terminal(order_ids, timeout=60.0):
    from orders_app import states
    from orders_app.models import Order

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = list(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True))
        if all(states.is_terminal(s) for s in statuses):
            return statuses
        time.sleep(0.1)
    raise AssertionError(f"orders not terminal after {timeout}s: {statuses}")


def _soon(wall_seconds: float) -> str:
    """The market time the clock reaches ``wall_seconds`` from now: a TWAP window short enough for a test."""
    from market_app.clock import get_clock

    return (get_clock().market_now() + timedelta(seconds=wall_seconds * 390 * 60 / 600)).isoformat()


def _place_all(portfolio, trader):
    from orders_app.services import order_create, order_place, order_submit
    from market_app.models import Instrument
    from portfolio_app.models import RebalanceProposal
    from portfolio_app.services import proposal_transition

    cash_before = portfolio.cash
    manual = [
        order_place(user=trader, portfolio_id=portfolio.pk, symbol="AAPL", side="BUY", quantity=Decimal(800)),
        order_place(user=trader, portfolio_id=portfolio.pk, symbol="KO", side="BUY", quantity=Decimal(1500),
                    algo="TWAP", algo_params={"slices": 3, "end": _soon(20)}),
    ]
    p = RebalanceProposal.objects.create(portfolio=portfolio)
    for to in ("PENDING_APPROVAL", "APPROVED"):
        proposal_transition(proposal_id=p.pk, to=to, actor=trader)
    o, _ = order_create(client_order_id=f"P{p.pk}-JNJ", portfolio_id=portfolio.pk, proposal_id=p.pk,
                        instrument_id=Instrument.objects.get(symbol="JNJ").pk, side="BUY", quantity=Decimal(600))
    order_submit(order_id=o.pk, actor=trader)
    return cash_before, [*manual, o], p.pk


@pytest.mark.asyncio
async def test_lifecycle_when_worked_by_a_real_worker_then_positions_cash_and_pushes_match_fills(
    replay_book, celery_worker_live, client
):
    from desk.money import cash
    from orders_app.models import Fill
    from portfolio_app.models import Portfolio, Position, RebalanceProposal

    portfolio, trader = replay_book

    @sync_to_async
    def cookie():
        client.force_login(trader)
        return client.cookies["sessionid"].value

    from config.asgi import application

    comm = WebsocketCommunicator(application, "/ws/desk/", headers=[
        (b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={await cookie()}".encode())])
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_json_from(timeout=5)  # hello

    cash_before, orders, proposal_id = await sync_to_async(_place_all)(portfolio, trader)
    statuses = await sync_to_async(_wait_terminal)([o.pk for o in orders])
    assert statuses == ["FILLED"] * 3

    fills = await sync_to_async(lambda: list(Fill.objects.filter(order__portfolio=portfolio).select_related("order__instrument")))()
    pushed = set()
    deadline = time.monotonic() + 15
    while pushed != {f.trade_id for f in fills} and time.monotonic() < deadline:
        try:
            msg = await comm.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if msg["type"] == "fill.created":
            pushed.add(msg["data"]["trade_id"])
    await comm.disconnect()
    assert pushed == {f.trade_id for f in fills}

    @sync_to_async
    def books():
        p = Portfolio.objects.get(pk=portfolio.pk)
        pos = {x.instrument.symbol: x.quantity for x in Position.objects.filter(portfolio=p).select_related("instrument")}
        return p.cash, pos, RebalanceProposal.objects.get(pk=proposal_id)

    cash_after, positions, proposal = await books()
    for sym, qty in (("AAPL", 800), ("KO", 1500), ("JNJ", 600)):
        assert positions[sym] == qty == sum(f.last_qty for f in fills if f.order.instrument.symbol == sym)
    assert cash_after == cash_before - sum(cash(f.last_qty * f.last_px) + f.commission for f in fills)
    assert proposal.status == "COMPLETED" and proposal.filled_share == Decimal(1)


def test_routing_task_when_delivered_twice_to_a_real_worker_then_no_second_children_or_fill(replay_book, celery_worker_live):
    from orders_app.models import Fill, Order
    from orders_app.services import order_place
    from orders_app.tasks import order_route

    portfolio, trader = replay_book
    order = order_place(user=trader, portfolio_id=portfolio.pk, symbol="PFE", side="BUY", quantity=Decimal(900))
    order_route.apply_async((order.pk,))  # the broker redelivers the same message
    assert _wait_terminal([order.pk]) == ["FILLED"]
    order_route.apply_async((order.pk,))
    time.sleep(1.0)
    children = Order.objects.filter(parent=order)
    assert sum(c.quantity for c in children) == 900
    assert sum(f.last_qty for f in Fill.objects.filter(order__parent=order)) == 900
