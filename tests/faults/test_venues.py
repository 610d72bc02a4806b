"""A failing venue: a venue marked down is routed around; a venue that rejects gives REJECTED
with the venue's own reason (``DESK_PAPER_REJECTING_VENUES``, the paper exchange's drill knob)."""

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


def test_order_when_the_venue_rejects_then_rejected_with_the_venues_reason(book, enqueued, settings):
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
