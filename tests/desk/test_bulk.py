"""``desk.bulk``: rows written many at a time, and writes to different tables made in one statement."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)


def test_writes_when_an_insert_and_updates_of_two_tables_are_gathered_then_one_statement_makes_them_all(demo_small):
    from desk.bulk import Writes
    from desk.lifecycle import transition
    from orders_app.models import Order, OrderEvent
    from portfolio_app.models import Portfolio

    p = Portfolio.objects.create(name="bulk-writes", cash=Decimal("100.00"))
    from market_app.models import Instrument

    inst = Instrument.objects.get(symbol="KO")
    with transition(Order.LIFECYCLE):
        order = Order.objects.create(client_order_id="bw-1", portfolio=p, instrument=inst, side="BUY", quantity=Decimal(5))
    p.cash, order.status, order.previous_status = Decimal("99.50"), "SUBMITTED", order.status
    w = Writes()
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        w.update(Portfolio, [p], ["cash"])
        with transition(Order.LIFECYCLE):
            w.update(Order, [order], ["status", "previous_status"])
        w.insert(OrderEvent, [OrderEvent(order=order, event="SUBMITTED", from_status="INITIALIZED", to_status="SUBMITTED")])
        assert w
        w.run()
        assert not w  # nothing left to make

    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].split(None, 1)[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3), writes
    assert Portfolio.objects.get(pk=p.pk).cash == Decimal("99.50")
    assert Order.objects.get(pk=order.pk).status == "SUBMITTED"
    assert list(OrderEvent.objects.filter(order=order).values_list("to_status", flat=True))[-1] == "SUBMITTED"


def test_writes_when_a_status_is_gathered_outside_its_state_machine_then_it_is_refused_at_once(demo_small):
    from desk.bulk import Writes
    from desk.lifecycle import StatusWriteRefused
    from orders_app.models import Order

    w = Writes()
    with pytest.raises(StatusWriteRefused):
        w.update(Order, [Order(pk=1, status="FILLED")], ["status"])
    assert not w
