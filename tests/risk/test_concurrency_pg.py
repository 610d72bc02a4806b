"""Concurrent orders cannot jointly breach a limit each passes alone (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.db import connection, connections, transaction

from risk_app import checks as K

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL")

N_ORDERS = 50
ROOM_FOR = 10


@pytest.mark.django_db(transaction=True)
def test_pre_trade_check_when_50_concurrent_orders_and_room_for_10_then_at_most_10_accepted(stepped_clock, make_user):
    from datetime import date

    from desk import roles
    from desk.interfaces import OrderIntent, Side
    from orders_app import services as orders
    from orders_app.models import Order
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import Portfolio
    from risk_app import services

    officer = make_user("rc", roles.RISK_OFFICER)
    pf = Portfolio.objects.create(name="Race Book", cash=D("1000000.00"))
    inst = Instrument.objects.create(symbol="RACE", sector="Tech", adv=1_000_000)
    PriceBar.objects.create(instrument=inst, date=date(2022, 2, 28), close=D("100"))
    # Each order: 100 shares x 100 = 10,000; the limit holds exactly 10 of them.
    services.limit_create(actor=officer, reason="race", name="Max RACE position", scope="instrument", scope_key="RACE",
                          kind=K.MAX_POSITION_NOTIONAL, threshold=str(10_000 * ROOM_FOR))
    barrier = threading.Barrier(N_ORDERS)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def place(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                Portfolio.objects.select_for_update().get(pk=pf.pk)
                [v] = services.pre_trade_check(
                    portfolio_id=pf.pk, intents=[OrderIntent(pf.pk, "RACE", Side.BUY, D(100), client_order_id=f"race-{i}")],
                )
                if v.passed:
                    order, _ = orders.order_create(client_order_id=f"race-{i}", portfolio_id=pf.pk, instrument_id=inst.pk,
                                                   side="BUY", quantity=D(100))
                    orders.order_apply_event(order_id=order.pk, event="SUBMITTED")
            with lock:
                results.append(v.passed)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=place, args=(i,)) for i in range(N_ORDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors, errors[:3]
    accepted = Order.objects.filter(portfolio=pf, status="SUBMITTED").count()
    assert sum(results) == accepted == ROOM_FOR
    exposure = sum(o.quantity * D(100) for o in Order.objects.filter(portfolio=pf, status="SUBMITTED"))
    assert exposure <= D(10_000 * ROOM_FOR)
