"""Desk-wide limits under concurrency (PostgreSQL row locks): orders of different portfolios cannot jointly
breach a desk limit, and a portfolio no desk limit concerns never waits for the desk lock."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import OperationalError, connection, connections, transaction

from risk_app import checks as K

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL")

N_ORDERS = 50
N_PORTFOLIOS = 5
ROOM_FOR = 10


@pytest.fixture
def no_routing(monkeypatch):
    from orders_app import dispatch

    monkeypatch.setattr(dispatch, "route_after_commit", lambda pid: None)


def _market(make_user):
    from desk import roles
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import Portfolio

    officer = make_user("desk-rc", roles.RISK_OFFICER)
    trader = make_user("desk-tr", roles.TRADER)
    inst = Instrument.objects.create(symbol="DESKR", sector="Tech", adv=10_000_000)
    PriceBar.objects.create(instrument=inst, date=date(2022, 2, 28), close=D("100"))
    books = [Portfolio.objects.create(name=f"Desk race {i}", cash=D("10000000.00")) for i in range(N_PORTFOLIOS)]
    for pf in books:
        pf.traders.add(trader)
    return officer, trader, books


def _submit(trader, pf, coid):
    """A trader's manual order through the real submission service: validated, persisted and submitted."""
    from orders_app.submission import order_place

    return order_place(user=trader, portfolio_id=pf.pk, symbol="DESKR", side="BUY", quantity="100", client_order_id=coid)


@pytest.mark.django_db(transaction=True)
def test_order_submit_when_50_concurrent_orders_across_5_portfolios_and_desk_room_for_10_then_exactly_10_pass(
    stepped_clock, make_user, no_routing
):
    from orders_app.models import Order
    from risk_app import services
    from risk_app.models import DeskExposure

    officer, trader, books = _market(make_user)
    # Each order: 100 x 100 = 10,000. Every portfolio alone has room for all ten of its orders; the desk for 10 in all.
    services.limit_create(actor=officer, reason="race", name="Desk gross", scope="desk", kind=K.MAX_GROSS_EXPOSURE,
                          threshold=str(10_000 * ROOM_FOR))
    barrier = threading.Barrier(N_ORDERS)
    errors: list[BaseException] = []

    def place(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            _submit(trader, books[i % N_PORTFOLIOS], f"desk-race-{i}")
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=place, args=(i,)) for i in range(N_ORDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)

    assert not errors, errors[:3]
    statuses = list(Order.objects.filter(client_order_id__startswith="desk-race-").values_list("status", flat=True))
    assert statuses.count("SUBMITTED") == ROOM_FOR
    assert statuses.count("DENIED") == N_ORDERS - ROOM_FOR
    denied = Order.objects.filter(client_order_id__startswith="desk-race-", status="DENIED").first()
    assert denied.reason == "Post-trade gross exposure desk-wide USD 110,000 exceeds the USD 100,000 limit 'Desk gross'"
    assert DeskExposure.objects.get(key="*").gross == D(10_000 * ROOM_FOR)


@pytest.mark.django_db(transaction=True)
def test_order_submit_when_portfolio_not_concerned_by_any_desk_limit_then_desk_lock_not_taken(
    stepped_clock, make_user, no_routing
):
    from risk_app import services
    from risk_app.models import DeskExposure

    officer, trader, books = _market(make_user)
    named, outside = books[:2], books[2]
    services.limit_create(actor=officer, reason="two books", name="Desk gross (two)", scope="desk",
                          kind=K.MAX_GROSS_EXPOSURE, threshold="1000000", params={"portfolios": [p.pk for p in named]})
    key = ",".join(str(p.pk) for p in sorted(named, key=lambda p: p.pk))
    held, release = threading.Event(), threading.Event()

    def hold_desk_lock() -> None:
        try:
            with transaction.atomic():
                DeskExposure.objects.select_for_update().get(key=key)
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_desk_lock)
    holder.start()
    try:
        assert held.wait(timeout=10)
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '1s'")
            order = _submit(trader, outside, "desk-outside-1")
        assert order.status == "SUBMITTED"  # went through while the desk row was locked
        with pytest.raises(OperationalError, match="lock timeout"):
            with transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute("SET LOCAL lock_timeout = '1s'")
                _submit(trader, named[0], "desk-named-1")  # a concerned portfolio waits for the desk row
    finally:
        release.set()
        holder.join(timeout=30)
