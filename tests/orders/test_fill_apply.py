"""fill_apply: positions, realised P&L and cash to the cent; once per trade_id; concurrency."""

import threading
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.db import connection

from desk.interfaces import FillReport, LiquiditySide, Side
from orders_app import services
from orders_app.models import Fill, Order
from market_app.models import Instrument
from portfolio_app.models import Portfolio, Position

TS = datetime(2022, 1, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
def book(db):
    inst = Instrument.objects.create(symbol="ACME", sector="Industrials", adv=1_000_000)
    pf = Portfolio.objects.create(name="Book", cash=D("100000.00"), long_short=True)
    return pf, inst


def submitted(pf, inst, side, qty, coid):
    order, _ = services.order_create(client_order_id=coid, portfolio_id=pf.pk, instrument_id=inst.pk, side=side, quantity=D(qty))
    services.order_apply_event(order_id=order.pk, event="SUBMITTED")
    services.order_apply_event(order_id=order.pk, event="ACCEPTED")
    return order


def report(trade_id, order, qty, px, fee="0"):
    return FillReport(
        trade_id=trade_id, client_order_id=order.client_order_id, venue="", symbol="ACME", side=Side(order.side),
        last_qty=D(qty), last_px=D(px), commission=D(fee), liquidity_side=LiquiditySide.TAKER, ts_event=TS,
    )


def test_fill_apply_when_buy_sell_close_flip_then_positions_pnl_and_cash_to_the_cent(book):
    pf, inst = book
    buy = submitted(pf, inst, "BUY", 400, "o1")
    services.fill_apply(order_id=buy.pk, report=report("t1", buy, 100, "10.00", "1.00"))
    services.fill_apply(order_id=buy.pk, report=report("t2", buy, 300, "12.00", "1.00"))
    sell = submitted(pf, inst, "SELL", 560, "o2")
    services.fill_apply(order_id=sell.pk, report=report("t3", sell, 150, "13.25", "0.35"))
    services.fill_apply(order_id=sell.pk, report=report("t4", sell, 250, "9.10", "0.35"))
    services.fill_apply(order_id=sell.pk, report=report("t5", sell, 160, "8.00", "0.35"))

    pos = Position.objects.get(portfolio=pf, instrument=inst)
    pf.refresh_from_db()
    # Realised: (13.25-11.5)*150 + (9.10-11.5)*250 = 262.50 - 600.00; then short 160 @ 8.00 opened.
    assert (pos.quantity, pos.avg_cost, pos.realised_pnl, pos.fees) == (D(-160), D("8.000000"), D("-337.50"), D("3.05"))
    # Cash: 100000 - 1000 - 3600 + 1987.50 + 2275 + 1280 - fees 3.05
    assert pf.cash == D("100939.45")
    buy.refresh_from_db(); sell.refresh_from_db()
    assert (buy.status, buy.filled_qty, buy.avg_px) == ("FILLED", D(400), D("11.500000"))
    assert (sell.status, sell.filled_qty) == ("FILLED", D(560))
    assert list(sell.events.values_list("to_status", flat=True)) == [
        "INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PARTIALLY_FILLED", "FILLED"
    ]


def test_fill_apply_when_same_trade_id_twice_then_second_changes_nothing(book):
    pf, inst = book
    buy = submitted(pf, inst, "BUY", 100, "o1")
    first = services.fill_apply(order_id=buy.pk, report=report("dup", buy, 40, "10"))
    second = services.fill_apply(order_id=buy.pk, report=report("dup", buy, 40, "10"))
    pf.refresh_from_db(); buy.refresh_from_db()
    assert first.created and not second.created and second.fill.pk == first.fill.pk
    assert Fill.objects.count() == 1
    assert (buy.filled_qty, pf.cash) == (D(40), D("99600.00"))


def test_fill_apply_when_overfill_then_refused_and_nothing_saved(book):
    pf, inst = book
    buy = submitted(pf, inst, "BUY", 100, "o1")
    with pytest.raises(services.OrderError, match="overfill"):
        services.fill_apply(order_id=buy.pk, report=report("big", buy, 101, "10"))
    pf.refresh_from_db()
    assert Fill.objects.count() == 0 and pf.cash == D("100000.00")
    assert not Position.objects.filter(quantity__gt=0).exists()


def test_fill_apply_when_child_fills_then_parent_filled_qty_is_sum_of_children(book):
    pf, inst = book
    parent = submitted(pf, inst, "BUY", 100, "p1")
    kids = []
    for i in range(2):
        kid, _ = services.order_create(client_order_id=f"p1-{i}", portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(50), parent_id=parent.pk)
        services.order_apply_event(order_id=kid.pk, event="SUBMITTED")
        kids.append(kid)
    services.fill_apply(order_id=kids[0].pk, report=report("k0", kids[0], 50, "10"))
    parent.refresh_from_db()
    assert (parent.status, parent.filled_qty) == ("PARTIALLY_FILLED", D(50))
    services.fill_apply(order_id=kids[1].pk, report=report("k1", kids[1], 50, "11"))
    parent.refresh_from_db()
    assert (parent.status, parent.filled_qty, parent.avg_px) == ("FILLED", D(100), D("10.500000"))


def test_order_create_when_same_client_order_id_then_returns_stored_order(book):
    pf, inst = book
    a, created_a = services.order_create(client_order_id="same", portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(5))
    b, created_b = services.order_create(client_order_id="same", portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(5))
    assert created_a and not created_b and a.pk == b.pk and Order.objects.count() == 1


def test_order_apply_event_when_illegal_then_refused_and_unchanged(book):
    pf, inst = book
    order, _ = services.order_create(client_order_id="x", portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(5))
    with pytest.raises(services.states.IllegalTransition):
        services.order_apply_event(order_id=order.pk, event="FILLED")
    order.refresh_from_db()
    assert order.status == "INITIALIZED" and order.events.count() == 1


@pytest.mark.django_db(transaction=True)
def test_fill_apply_when_two_threads_fill_one_position_concurrently_then_total_is_right():
    inst = Instrument.objects.create(symbol="ACME", adv=1_000_000)
    pf = Portfolio.objects.create(name="Book", cash=D("1000000.00"))
    buy = submitted(pf, inst, "BUY", 2000, "o1")
    errors = []

    def worker(k):
        try:
            for i in range(50):
                services.fill_apply(order_id=buy.pk, report=report(f"t{k}-{i}", buy, 20, "10.01", "0.01"))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    pos = Position.objects.get(portfolio=pf, instrument=inst)
    pf.refresh_from_db(); buy.refresh_from_db()
    assert pos.quantity == D(2000) and buy.filled_qty == D(2000) and buy.status == "FILLED"
    assert pf.cash == D("1000000.00") - D("20020.00") - D("1.00")
    assert Fill.objects.count() == 100
