"""Backup -> wipe -> restore -> the same orders, fills and positions."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command

from desk.interfaces import FillReport, LiquiditySide, Side
from orders_app import services
from orders_app.models import Fill, Order
from market_app.models import Instrument
from portfolio_app.models import Portfolio, Position


def _state():
    return (
        sorted(Order.objects.values_list("client_order_id", "status", "filled_qty")),
        sorted(Fill.objects.values_list("trade_id", "last_qty", "last_px", "commission")),
        sorted(Position.objects.values_list("instrument__symbol", "quantity", "avg_cost")),
        sorted(Portfolio.objects.values_list("name", "cash")),
    )


@pytest.mark.django_db(transaction=True)
def test_backup_when_restored_after_wipe_then_same_orders_fills_positions(tmp_path):
    inst = Instrument.objects.create(symbol="ACME", adv=1000)
    pf = Portfolio.objects.create(name="Book", cash=D("1000.00"))
    order, _ = services.order_create(client_order_id="o1", portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(10))
    services.order_apply_event(order_id=order.pk, event="SUBMITTED")
    services.fill_apply(order_id=order.pk, report=FillReport("t1", "o1", "", "ACME", Side.BUY, D(4), D("12.5"), D("0.35"), LiquiditySide.TAKER, datetime(2022, 1, 3, 15, tzinfo=UTC)))
    before = _state()
    path = tmp_path / "desk.dump"

    call_command("backup", str(path))
    Fill.objects.all().delete(); Position.objects.all().delete()
    Order.objects.all().delete(); Portfolio.objects.all().delete()
    assert _state() != before
    call_command("restore", str(path), yes=True)

    assert _state() == before


def test_restore_when_file_missing_then_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="no such backup file"):
        call_command("restore", str(tmp_path / "nope.dump"), yes=True)
