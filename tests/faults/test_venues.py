"""A failing venue: a venue marked down is routed around; what a venue rejects goes to the next venue
by the router's ranking, and only when every venue refuses does the order give up, with the venues'
reasons (``DESK_PAPER_REJECTING_VENUES``, the paper exchange's drill knob)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.orders.conftest import drain

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _place(book, symbol: str, qty: int):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side="BUY", quantity=Decimal(qty))


def test_order_when_a_venue_is_down_then_routed_around_it_and_filled(book, enqueued):
    from orders_app.models import Order, Venue

    Venue.objects.filter(code="LIT-A").update(enabled=False)
    order = _place(book, "AAPL", 5000)
    for _ in range(20):
        drain(enqueued)
        order.refresh_from_db()
        if order.status == "FILLED":
            break
        book[2].step(60)
    children = Order.objects.filter(parent=order).select_related("venue")
    assert order.status == "FILLED"
    assert children and "LIT-A" not in {c.venue.code for c in children}
    alternatives = order.routing_decisions.first().alternatives
    assert "LIT-A" not in {a["venue"] for a in order.routing_decisions.first().allocations}, alternatives


def test_order_when_every_venue_rejects_then_it_gives_up_saying_no_venue_took_it_with_their_reasons(book, enqueued, settings):
    from orders_app.models import Order, Venue

    reason = "LIT-A: trading in this symbol is suspended"
    settings.DESK_PAPER_REJECTING_VENUES = {v: reason for v in Venue.objects.values_list("code", flat=True)}
    order = _place(book, "KO", 700)
    drain(enqueued)
    order.refresh_from_db()
    children = list(Order.objects.filter(parent=order))
    assert children and {c.status for c in children} == {"REJECTED"}
    assert {c.reason for c in children} == {reason}
    assert order.status == "CANCELED" and reason in order.reason and order.filled_qty == 0
    assert order.reason.startswith("no venue took it")
    tried = [a["venue"] for d in order.routing_decisions.all() for a in d.attempts]
    assert len(tried) == len(set(tried)) and set(tried) <= set(Venue.objects.values_list("code", flat=True))


def test_order_when_a_venue_rejects_then_the_rest_is_rerouted_to_the_next_venue_and_filled(book, enqueued, settings):
    from orders_app.models import Order, Venue

    venues = list(Venue.objects.filter(enabled=True))
    # Only the dearest venue takes orders: the router's first choices refuse, and each refusal moves on.
    dearest = max(venues, key=lambda v: (v.half_spread_bps + v.taker_fee_bps, v.code)).code
    settings.DESK_PAPER_REJECTING_VENUES = {v.code: f"{v.code}: halted" for v in venues if v.code != dearest}
    order = _place(book, "KO", 700)
    for _ in range(20):
        drain(enqueued)
        order.refresh_from_db()
        if order.status == "FILLED":
            break
        book[2].step(60)
    assert order.status == "FILLED" and order.filled_qty == 700, order.reason
    children = list(Order.objects.filter(parent=order).select_related("venue"))
    assert {c.venue.code for c in children if c.status == "REJECTED"} <= set(settings.DESK_PAPER_REJECTING_VENUES)
    assert sum(c.filled_qty for c in children if c.venue.code == dearest) == 700
    attempts = [a for d in order.routing_decisions.all() for a in d.attempts]
    assert attempts and all(a["venue"] != dearest and a["rerouted_to"] for a in attempts)
    assert len(attempts) >= len(venues) - 1  # every refusing venue was tried once before the dearest filled it
