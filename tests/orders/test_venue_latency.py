"""Venue latency measured from what happened, not configured: order -> acknowledgement (the child's
SUBMITTED event to its ACCEPTED event) and order -> first fill, per venue, in wall-clock milliseconds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from .conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=timezone.utc)
ACK_MS = [1, 2, 3, 4, 100]  # one slow acknowledgement: the p95 shows it, the p50 does not
FIRST_FILL_MS = [5, 6, 7, 8, 9]


def _children_on_one_venue(book, enqueued, code="LIT-A"):
    from orders_app.models import Order, Venue
    from orders_app.services import order_place

    portfolio, trader, _ = book
    Venue.objects.exclude(code=code).update(enabled=False)
    for i in range(len(ACK_MS)):
        order = order_place(user=trader, portfolio_id=portfolio.pk, symbol="KO", side="BUY", quantity=Decimal(100 + i))
        assert order.status == "SUBMITTED", order.reason
    drain(enqueued)
    book[2].step(1)
    drain(enqueued)
    children = list(Order.objects.filter(parent__isnull=False).order_by("id"))
    assert len(children) == len(ACK_MS) and {c.venue.code for c in children} == {code}
    assert all(c.fills.exists() for c in children)
    return children


def _stamp(children, ack_ms, fill_ms):
    """Put the children's timestamps where the test can name the answer."""
    from orders_app.models import Fill, OrderEvent

    for i, child in enumerate(children):
        sent = T0 + timedelta(seconds=i)
        OrderEvent.objects.filter(order=child, event="SUBMITTED").update(ts=sent)
        OrderEvent.objects.filter(order=child, event="ACCEPTED").update(ts=sent + timedelta(milliseconds=ack_ms[i]))
        Fill.objects.filter(order=child).update(created_at=sent + timedelta(milliseconds=fill_ms[i]))


def test_venue_scorecard_when_children_were_acked_and_filled_then_latency_is_measured_from_their_timestamps(book, enqueued):
    from orders_app.models import Venue
    from orders_app.selectors import venue_scorecard

    _stamp(_children_on_one_venue(book, enqueued), ACK_MS, FIRST_FILL_MS)

    card = {v.code: v for v in venue_scorecard(book[1])}

    lit = card["LIT-A"]
    assert lit.latency_samples == 5
    assert lit.ack_p50_ms == pytest.approx(3.0)
    assert lit.ack_p95_ms == pytest.approx(100.0)
    assert lit.first_fill_p50_ms == pytest.approx(7.0)
    assert lit.first_fill_p95_ms == pytest.approx(9.0)
    assert lit.latency_ms == Venue.objects.get(code="LIT-A").latency_ms  # the configured model figure stays beside it
    assert card["LIT-B"].latency_samples == 0 and card["LIT-B"].ack_p50_ms is None


def test_venue_scorecard_api_and_blotter_when_measured_then_show_ack_and_first_fill(book, enqueued, api_for, client):
    _stamp(_children_on_one_venue(book, enqueued), ACK_MS, FIRST_FILL_MS)

    card = {v["code"]: v for v in api_for(book[1]).get("/api/v1/venues/scorecard/").json()}
    assert card["LIT-A"]["ack_p50_ms"] == pytest.approx(3.0)
    assert card["LIT-A"]["first_fill_p50_ms"] == pytest.approx(7.0)
    assert card["LIT-A"]["latency_samples"] == 5
    assert "latency_ms" in card["LIT-A"]  # compatible: the configured figure is still there

    client.force_login(book[1])
    page = client.get("/orders/?scorecard=1").content.decode()
    assert "Ack p50" in page and "First fill p50" in page


def test_venue_latency_when_a_child_was_never_acked_then_left_out_of_the_ack_figures(book, enqueued):
    from orders_app.models import OrderEvent
    from orders_app.selectors import venue_scorecard

    children = _children_on_one_venue(book, enqueued)
    _stamp(children, ACK_MS, FIRST_FILL_MS)
    OrderEvent.objects.filter(order=children[-1], event="ACCEPTED").delete()  # the slow one: filled without an ack

    lit = {v.code: v for v in venue_scorecard(book[1])}["LIT-A"]

    assert lit.ack_p95_ms == pytest.approx(4.0)
    assert lit.first_fill_p95_ms == pytest.approx(9.0)


def test_order_page_when_its_children_were_acked_then_tca_shows_each_venues_measured_latency(book, enqueued, client):
    from orders_app.models import Order

    children = _children_on_one_venue(book, enqueued)
    _stamp(children, ACK_MS, FIRST_FILL_MS)
    parent = Order.objects.get(pk=children[0].parent_id)

    client.force_login(book[1])
    page = client.get(f"/orders/{parent.pk}/").content.decode()

    table = page.split('id="venue-latency"', 1)[1].split("</table>", 1)[0]
    assert "LIT-A" in table and "1.0 / 1.0" in table and "5.0 / 5.0" in table  # its one child: ack 1 ms, first fill 5 ms
