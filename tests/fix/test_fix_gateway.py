"""The order lifecycle over FIX 4.4: real QuickFIX sessions on loopback, the gateway a subprocess.

The desk places and works orders in this process (the services, as a worker would run them); the
FIX venue client writes the outbox, the gateway (``manage.py fix_gateway``) sends it to a scripted
venue (``stub_acceptor.StubVenue``) and applies what comes back to the test database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.fix.gateway_harness import GatewayProcess, fix_venue_create, place, replay_clock, wait_for, work, work_initialized  # noqa: F401
from tests.fix.stub_acceptor import StubVenue
from tests.live_stack import free_port
from tests.orders.conftest import enqueued  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class FixDesk:
    venue: object
    stub: StubVenue
    gateway: GatewayProcess
    portfolio: object
    trader: object
    enqueued: list

    def place(self, symbol="KO", qty=100, **kw):
        order = place(self.portfolio, self.trader, symbol, qty, **kw)
        work(self.enqueued)
        return order

    def child(self, parent):
        from orders_app.models import Order

        return Order.objects.filter(parent=parent).order_by("id").first()

    def status_of(self, order) -> str:
        order.refresh_from_db()
        return order.status

    def wait_status(self, order, *statuses, timeout=20.0) -> None:
        try:
            wait_for(lambda: self.status_of(order) in statuses, timeout, what=f"{order.client_order_id} in {statuses}")
        except AssertionError:
            print(self.gateway.output()[-4000:])
            raise

    def position(self, symbol="KO") -> Decimal:
        from portfolio_app.models import Position

        p = Position.objects.filter(portfolio=self.portfolio, instrument__symbol=symbol).first()
        return p.quantity if p else Decimal(0)


@pytest.fixture
def fix_desk(demo_small, replay_clock, enqueued, tmp_path):  # noqa: F811
    from django.contrib.auth import get_user_model

    from ops_app import demo
    from portfolio_app.models import Portfolio

    port = free_port()
    venue = fix_venue_create(port=port)
    stub = StubVenue(port, clock=replay_clock.market_now).start()
    gateway = GatewayProcess(tmp_path / "gateway").start()
    try:
        stub.wait_logon(60)
    except TimeoutError:
        print(gateway.output())
        gateway.stop()
        stub.stop()
        raise
    desk = FixDesk(venue, stub, gateway, Portfolio.objects.get(name=demo.DEMO_PORTFOLIO),
                   get_user_model().objects.get(username="trader"), enqueued)
    yield desk
    gateway.stop()
    stub.stop()


def test_order_when_the_venue_fills_in_parts_then_child_and_parent_filled_once_each(fix_desk):
    from fix_app.models import FixCommand, FixExecution
    from orders_app.models import Fill

    fix_desk.stub.fills = (Decimal("0.4"), Decimal("0.6"))
    before = fix_desk.position()

    parent = fix_desk.place(qty=100)
    child = fix_desk.child(parent)
    fix_desk.wait_status(parent, "FILLED")

    child.refresh_from_db()
    assert child.status == "FILLED" and child.venue.code == "FIXS"
    fills = list(Fill.objects.filter(order=child).order_by("id"))
    assert [f.last_qty for f in fills] == [Decimal(40), Decimal(60)]
    assert all(f.trade_id.startswith("FIXS:E") for f in fills)
    assert fix_desk.position() - before == 100
    assert list(child.events.values_list("to_status", flat=True)) == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"]
    assert FixCommand.objects.get(order=child, kind="new").state == "acked"
    assert FixExecution.objects.filter(order=child, outcome="applied").count() == 3
