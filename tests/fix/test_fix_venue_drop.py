"""The venue's side fails: it drops the connection, then restarts (same store, same book). What it reported while
the desk was away comes back by resend and gap fill, and the desk ends equal to the venue: nothing lost, nothing doubled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fix.gateway_harness import fix_desk, gateway_env, place, replay_clock, wait_for, work  # noqa: F401
from tests.orders.conftest import enqueued  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOLS = ("KO", "PEP", "PG", "JNJ", "WMT")
N = 20


def _restart_keeping_book(stub):
    """The venue as a new process with its persisted store and book: its working orders go on. It takes no logon
    until the test opens it (``refuse_logons = False``): what it does before then is the desk's gap to fill."""
    orders = stub.orders
    again = stub.restarted(refuse_logons=True)
    with again.lock:
        again.orders, again.hold = orders, True
    return again


def test_venue_when_it_drops_then_restarts_with_fills_sent_while_the_desk_was_away_then_resent_and_nothing_lost_or_doubled(fix_desk):
    from market_app.models import Instrument
    from orders_app.models import Fill, Order
    from portfolio_app.models import Portfolio, Position

    stub = fix_desk.stub
    stub.hold = True  # orders rest at the venue until the test fills them
    book = Portfolio.objects.create(name="fix-venue-drop", cash=Decimal("1000000000.00"))
    book.traders.add(fix_desk.trader)
    symbols = [s for s in SYMBOLS if Instrument.objects.filter(symbol=s).exists()]
    parents = [place(book, fix_desk.trader, symbols[i % len(symbols)], 100 + 2 * i) for i in range(N)]
    work(fix_desk.enqueued)
    children = Order.objects.filter(parent__in=parents)
    wait_for(lambda: children.filter(status="ACCEPTED").count() == N, 60, what="every child acknowledged by the venue")
    open_orders = lambda s: list({id(o): o for o in s.orders.values()}.values())  # noqa: E731

    # 1. The venue drops the connection, and fills half of each order before the desk is back.
    stub.disconnect()
    wait_for(lambda: not stub.logged_on(), 10, what="the venue's session down")
    with stub.lock:
        for o in open_orders(stub):
            stub.fill(o, o.qty / 2)  # stored by the venue under its next sequence numbers, not sent
    stub.wait_logon(60, count=2)
    wait_for(lambda: Fill.objects.filter(order__portfolio=book).count() == N, 60, what="the half fills, resent")
    assert stub.messages("2"), "the desk should have asked for what it missed (ResendRequest)"

    # 2. The venue stops and starts again as a new process; before the desk logs on it fills the rest.
    stub.stop()
    stub = fix_desk.stub = _restart_keeping_book(stub)
    with stub.lock:
        for o in open_orders(stub):
            stub.fill(o, o.qty - o.cum)
    stub.refuse_logons = False
    stub.wait_logon(60)
    wait_for(lambda: Order.objects.filter(pk__in=[p.pk for p in parents], status="FILLED").count() == N, 90,
             what="every order filled after the venue's restart")
    assert stub.messages("2"), "after the restart too, the gap is filled by a resend"

    fills = Fill.objects.filter(order__portfolio=book)
    venue_fills = stub.fill_ids()
    assert fills.count() == len(venue_fills) == 2 * N  # 0 lost, 0 doubled
    assert set(fills.values_list("trade_id", flat=True)) == {f"{fix_desk.venue.code}:{e}" for e in venue_fills}
    for sym in symbols:
        venue_qty = sum(o.cum for o in open_orders(stub) if o.symbol == sym)
        assert Position.objects.get(portfolio=book, instrument__symbol=sym).quantity == venue_qty
