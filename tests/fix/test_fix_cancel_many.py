"""The FIX venue client's bulk cancel (``FixVenueClient.cancel_many``, the kill switch's path): the same outbox
commands, ClOrdIDs and chain as ``cancel`` of each, in statements that do not grow with the orders."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.fix.test_fix_batch import _sent_orders, fix_book  # noqa: F401
from tests.orders.conftest import stepped_clock  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _outbox(children):
    from fix_app.models import ClOrdLink, FixCommand

    cmds = sorted(FixCommand.objects.filter(order__in=children).values_list(
        "order__client_order_id", "kind", "cl_ord_id", "orig_cl_ord_id", "state", "last_error", "payload", "priority"))
    links = sorted(ClOrdLink.objects.filter(order__in=children).values_list(
        "order__client_order_id", "cl_ord_id", "orig_cl_ord_id", "kind", "live"))
    return cmds, links


def _unsent(venue, portfolio, tag):
    """A child whose NewOrderSingle is still in the outbox (never claimed by the gateway)."""
    from fix_app.models import FixCommand

    (child,) = _sent_orders(venue, portfolio, 1, tag=tag)
    FixCommand.objects.filter(order=child).update(state=FixCommand.State.PENDING, sent_at=None)
    return child


def test_cancel_many_when_orders_are_at_the_venue_or_still_in_the_outbox_then_as_cancel_of_each(fix_book):
    from fix_app.client import FixVenueClient
    from market_app.clock import get_clock

    venue, portfolio = fix_book
    sent = _sent_orders(venue, portfolio, 4, tag="cm")
    unsent = _unsent(venue, portfolio, "cmu")
    children = [*sent, unsent]
    cids = [c.client_order_id for c in children] + ["no-such-order"]
    client = FixVenueClient(venue=venue, clock=get_clock().market_now)

    with transaction.atomic():
        before = transaction.savepoint()
        one = {cid: client.cancel(cid) for cid in cids}
        one_outbox = _outbox(children)
        transaction.savepoint_rollback(before)
        many = client.cancel_many(cids)
        many_outbox = _outbox(children)

    assert many == one
    assert many_outbox == one_outbox
    assert [many[c.client_order_id].status.value for c in children] == ["PENDING_CANCEL"] * 4 + ["CANCELED"]
    assert many["no-such-order"].refused == "unknown order"


def test_cancel_many_when_it_cancels_more_orders_then_it_takes_no_more_statements(fix_book):
    from fix_app.client import FixVenueClient
    from market_app.clock import get_clock

    venue, portfolio = fix_book
    client = FixVenueClient(venue=venue, clock=get_clock().market_now)
    batches = [_sent_orders(venue, portfolio, n, tag=tag) for n, tag in ((3, "few"), (30, "many"))]
    counts = []
    for children in batches:
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            client.cancel_many([c.client_order_id for c in children])
        counts.append(len(queries))

    assert counts[0] == counts[1] <= 12
