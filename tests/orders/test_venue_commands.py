"""Every order command reaches the venue client, and nothing reaches a venue around the risk gate.

The paper venue keeps its book in the database (``PaperBookOrder``): an order rests there
between steps, a cancel or a replace is sent to it and confirmed by it, and each slice passes
the gate's slice check - whose seal the venue client asks for - before it goes out.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.orders.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)


def _place(book, symbol="KO", qty=500, **kw):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=kw.pop("side", "BUY"), quantity=Decimal(qty), **kw)


def _mark(book, symbol):
    from market_app.marks import market_state, session_at, session_market

    now = book[2].market_now()
    return Decimal(str(market_state(session_market(session_at(now), [symbol]), symbol, now).mark))


def _resting(book, enqueued, symbol="KO", qty=500):
    """A LIMIT buy 4% under the mark: inside the collar, below anything the path reaches soon."""
    limit = (_mark(book, symbol) * Decimal("0.96")).quantize(Decimal("0.01"))
    order = _place(book, symbol, qty, order_type="LIMIT", limit_price=limit)
    drain(enqueued)
    book[2].step(60)
    drain(enqueued)
    order.refresh_from_db()
    return order


def _client(child, book):
    from orders_app.working import venue_client

    return venue_client(child, book[2].market_now())[0]


def _stamped(order, **kw):
    from dataclasses import replace

    from desk import riskstamp

    o = replace(order, **kw) if kw else order
    return replace(o, risk_stamp=riskstamp.sign(client_order_id=o.client_order_id, side=o.side, symbol=o.symbol,
                                                quantity=o.quantity, limit_price=o.limit_price))


def _forged(book, qty=100, **kw):
    from desk.interfaces import ExecutionOrder, OrderType, Side

    return ExecutionOrder(client_order_id=kw.pop("cid", "FORGED-1"), symbol="AAPL", side=Side.BUY, quantity=Decimal(qty),
                          venue="LIT-A", order_type=OrderType.MARKET, ts=book[2].market_now(), **kw)


def test_venue_client_when_a_new_order_has_no_passed_risk_check_then_refused_and_nothing_reaches_the_book(book):
    from desk.interfaces import OrderStatus
    from desk.riskstamp import NO_RISK_CHECK
    from market_app.models import PaperBookOrder
    from orders_app.venues import paper_environment, paper_venues
    from market_app.marks import session_at, session_market

    now = book[2].market_now()
    client = paper_environment(market=session_market(session_at(now), ["AAPL"]), clock=lambda: now)
    # No seal; a seal for another quantity; a seal made with another key: all refused, nothing rests.
    bare = client.submit(_forged(book))
    other_qty = client.submit(_resized(_stamped(_forged(book, 100, cid="FORGED-2")), 5000))
    made_up = client.submit(_forged(book, cid="FORGED-3", risk_stamp="0" * 64))
    assert [r.status for r in (bare, other_qty, made_up)] == [OrderStatus.REJECTED] * 3
    assert {r.reason for r in (bare, other_qty, made_up)} == {NO_RISK_CHECK}
    assert not PaperBookOrder.objects.exists()
    # The gate's seal for exactly this order: taken.
    sealed = client.submit(_stamped(_forged(book, cid="SEALED-1")))
    assert sealed.status is not OrderStatus.REJECTED
    assert PaperBookOrder.objects.filter(client_order_id="SEALED-1").exists()
    assert paper_venues()  # the demo's venues are what the client works on


def _resized(order, qty):
    from dataclasses import replace

    return replace(order, quantity=Decimal(qty))  # keeps the seal made for the old quantity


def test_venue_client_when_a_replace_has_no_passed_risk_check_for_its_quantity_and_price_then_refused_and_the_order_unchanged(book, enqueued):
    from desk import riskstamp
    from desk.riskstamp import NO_RISK_CHECK
    from market_app.models import PaperBookOrder
    from orders_app.models import Order

    order = _resting(book, enqueued)
    child = Order.objects.select_related("instrument", "venue").filter(parent=order).exclude(status="CANCELED").first()
    assert child.status == "ACCEPTED", child.reason
    client = _client(child, book)
    before = PaperBookOrder.objects.get(client_order_id=child.client_order_id).state
    wrong = riskstamp.sign(client_order_id=child.client_order_id, side=child.side, symbol="KO", quantity=child.quantity,
                           limit_price=child.limit_price)  # a seal for the order as it is, not as it would become
    for stamp in ("", wrong):
        refused = client.amend(child.client_order_id, quantity=child.quantity * 10, risk_stamp=stamp)
        assert refused.refused == NO_RISK_CHECK
    after = PaperBookOrder.objects.get(client_order_id=child.client_order_id).state
    assert after["order"]["quantity"] == before["order"]["quantity"] == str(child.quantity)


def test_paper_venue_when_an_order_rests_then_its_book_persists_between_steps_and_every_worker_sees_it(book, enqueued):
    from market_app.models import PaperBookOrder
    from orders_app.models import Order

    order = _resting(book, enqueued)
    child = Order.objects.select_related("instrument", "venue").get(parent=order)
    row = PaperBookOrder.objects.get(client_order_id=child.client_order_id)
    assert row.status == "ACCEPTED" and row.venue == child.venue.code
    assert Decimal(row.state["remaining"]) == child.quantity and row.state["rested"] is True
    # A client built elsewhere (another worker) sees the same working order.
    open_ids = {r.client_order_id for r in _client(child, book).open_orders()}
    assert child.client_order_id in open_ids


def test_order_cancel_when_a_child_rests_at_the_venue_then_the_venue_cancels_it_and_confirms_with_its_time(book, enqueued):
    from market_app.models import PaperBookOrder
    from orders_app.models import Order
    from orders_app.services import order_cancel

    order = _resting(book, enqueued)
    child = Order.objects.get(parent=order)
    order = order_cancel(order_id=order.pk, actor=book[1])
    child.refresh_from_db()
    assert order.status == "CANCELED" and child.status == "CANCELED"
    assert PaperBookOrder.objects.get(client_order_id=child.client_order_id).status == "CANCELED"
    confirmed = child.events.get(event="CANCELED")
    assert confirmed.venue_ts == book[2].market_now() and "confirmed by" in confirmed.reason
    assert [e.event for e in child.events.order_by("id")][-2:] == ["PENDING_CANCEL", "CANCELED"]
    # The venue no longer works it: later steps bring no fill.
    book[2].step(3 * 3600)
    assert _client(child, book).status(child.client_order_id).fills == ()


def test_order_amend_when_a_child_rests_at_the_venue_then_the_replace_reaches_the_venue_book(book, enqueued):
    from market_app.models import PaperBookOrder
    from orders_app.models import Order
    from orders_app.services import order_amend

    order = _resting(book, enqueued)
    child = Order.objects.get(parent=order)
    new_limit = (order.limit_price + Decimal("0.05")).quantize(Decimal("0.01"))
    order_amend(order_id=order.pk, actor=book[1], limit_price=new_limit)
    child.refresh_from_db()
    assert child.limit_price == new_limit
    row = PaperBookOrder.objects.get(client_order_id=child.client_order_id)
    assert Decimal(row.state["order"]["limit_price"]) == new_limit
    update = child.events.get(event="UPDATED")
    assert update.venue_ts is not None and update.changes["limit_price"]["new"] == str(new_limit)


def test_slice_when_the_instrument_is_restricted_after_its_parent_passed_then_the_slice_is_denied_before_it_goes_out(book, enqueued):
    from market_app.models import PaperBookOrder
    from orders_app.models import Order
    from risk_app.checks import limits as K
    from risk_app.models import RiskCheck, RiskLimit
    from risk_app.services.pretrade import engine_reset

    order = _place(book, "KO", 1200, algo="TWAP", algo_params={"slices": 4})
    drain(enqueued)
    sent_first = set(PaperBookOrder.objects.values_list("client_order_id", flat=True))
    assert sent_first
    RiskLimit.objects.filter(kind=K.RESTRICTED_INSTRUMENTS).update(params={"symbols": ["KO"]})
    engine_reset()
    for _ in range(16):
        book[2].step(30 * 60)
        drain(enqueued)
        order.refresh_from_db()
        if order.status in ("EXPIRED", "CANCELED", "FILLED"):
            break
    later = Order.objects.filter(parent=order).exclude(client_order_id__in=sent_first)
    assert later and {c.status for c in later} == {"DENIED"}
    assert all("Restricted" in c.reason and "slice denied" in c.reason for c in later)
    assert not PaperBookOrder.objects.filter(client_order_id__in=[c.client_order_id for c in later]).exists()
    assert RiskCheck.objects.filter(order__in=later, passed=False).count() == later.count()
    order.refresh_from_db()
    assert order.status in ("EXPIRED", "CANCELED") and order.filled_qty < 1200


def test_kill_switch_when_halted_then_every_working_order_is_cancelled_at_its_venue_with_the_confirmation_time(book, enqueued):
    from django.contrib.auth import get_user_model

    from market_app.models import PaperBookOrder
    from orders_app.models import Order
    from risk_app.services.state import trading_state_set

    a = _resting(book, enqueued, "KO", 500)
    b = _resting(book, enqueued, "AAPL", 100)
    children = list(Order.objects.filter(parent__in=[a, b]))
    assert len(children) >= 2 and all(c.status == "ACCEPTED" for c in children)
    risk = get_user_model().objects.get(username="risk")
    trading_state_set(scope="desk", state="HALTED", actor=risk, reason="drill")
    assert [e for e in enqueued if e[0] == "cancel"] == [("cancel", book[0].pk, risk.pk, "Trading HALTED: drill")]  # one control task, after commit
    drain(enqueued)
    for c in children:
        c.refresh_from_db()
        assert c.status == "CANCELED"
        assert PaperBookOrder.objects.get(client_order_id=c.client_order_id).status == "CANCELED"
        assert c.events.get(event="CANCELED").venue_ts is not None
    assert not PaperBookOrder.objects.exclude(status__in=["CANCELED", "FILLED", "EXPIRED", "REJECTED"]).exists()
    # The risk officer sees each cancel and when its venue confirmed it.
    from django.test import Client

    web = Client()
    web.force_login(risk)
    page = web.get("/risk/").content.decode()
    assert 'id="halt-cancels"' in page and "all confirmed" in page
    assert all(c.client_order_id in page for c in children)


def test_replace_when_the_venue_refuses_then_the_child_returns_to_its_status_with_the_venues_reason(book, enqueued):
    from django.db import transaction

    from orders_app.models import Order
    from orders_app.working import _lock_all, venue_replace

    order = _place(book, "KO", 20000)
    drain(enqueued)
    book[2].step(1)
    drain(enqueued)
    child = next(c for c in Order.objects.filter(parent=order) if c.status == "PARTIALLY_FILLED")
    with transaction.atomic():
        portfolio, (parent, child) = _lock_all(order.portfolio_id, order.pk, child.pk)
        before = child.status
        refused = venue_replace(child, portfolio=portfolio, parent=parent, actor=book[1], quantity=Decimal(1))
    child.refresh_from_db()
    assert "below" in refused and child.status == before == "PARTIALLY_FILLED"
    last = list(child.events.order_by("id"))[-2:]
    assert [e.event for e in last] == ["PENDING_UPDATE", "MODIFY_REJECTED"]
    assert "refused the replace" in last[1].reason and last[1].venue_ts is not None
