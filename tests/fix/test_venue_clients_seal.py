"""No bypass (SEC 15c3-5): every kind of venue client the desk can route to refuses a new order or a
replace without the gate's seal for exactly that quantity and price - and sends nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db

NOW = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)


def _forged(cid, venue, qty=100):
    from desk.interfaces import ExecutionOrder, OrderType, Side

    return ExecutionOrder(client_order_id=cid, symbol="KO", side=Side.BUY, quantity=Decimal(qty), venue=venue,
                          order_type=OrderType.MARKET, ts=NOW)


def _seal(o):
    from desk import riskstamp

    return replace(o, risk_stamp=riskstamp.sign(client_order_id=o.client_order_id, side=o.side, symbol=o.symbol,
                                                quantity=o.quantity, limit_price=o.limit_price))


@pytest.fixture
def venues(demo_small):
    from ops_app.demo import fix_venue_ensure
    from orders_app.models import Venue

    fix_venue_ensure(port=1)  # a session nobody listens on: nothing may even be queued for it
    return {v.kind: v for v in Venue.objects.order_by("code")}


def test_every_venue_client_when_an_order_or_replace_is_not_sealed_for_its_quantity_and_price_then_refused_and_nothing_sent(venues):
    from desk.riskstamp import NO_RISK_CHECK
    from fix_app.models import FixCommand
    from market_app.marks import session_at, session_market
    from market_app.models import PaperBookOrder
    from orders_app.models import Order
    from orders_app.venues import load_environment
    from portfolio_app.models import Portfolio
    from market_app.models import Instrument

    assert set(venues) == {"paper", "fix"}, "a new venue kind must be added to this test"
    market = session_market(session_at(NOW), ["KO"])
    portfolio = Portfolio.objects.first()
    for kind, venue in venues.items():
        client = load_environment(market=market, clock=lambda: NOW, venue=venue)
        cid = f"FORGED-{kind}"
        Order.objects.create(client_order_id=cid, portfolio=portfolio, instrument=Instrument.objects.get(symbol="KO"),
                             venue=venue, side="BUY", quantity=Decimal(100))
        bare = client.submit(_forged(cid, venue.code))
        resized = client.submit(replace(_seal(_forged(cid, venue.code, 100)), quantity=Decimal(5000)))
        for result in (bare, resized):
            assert result.status.value == "REJECTED" and result.reason == NO_RISK_CHECK, (kind, result)
        assert not PaperBookOrder.objects.filter(client_order_id=cid).exists()
        assert not FixCommand.objects.filter(cl_ord_id=cid).exists()
        # Sealed for exactly this order: taken (queued for the FIX session, on the paper book).
        taken = client.submit(_seal(_forged(cid, venue.code)))
        assert taken.status.value != "REJECTED", (kind, taken)
        # A replace sealed for the order as it is, not as it would become: refused, nothing queued.
        before = FixCommand.objects.filter(cl_ord_id__startswith=cid).count()
        stale = _seal(_forged(cid, venue.code)).risk_stamp
        refused = client.amend(cid, quantity=Decimal(1000), risk_stamp=stale)
        assert refused.refused == NO_RISK_CHECK, (kind, refused)
        assert FixCommand.objects.filter(cl_ord_id__startswith=cid).count() == before
