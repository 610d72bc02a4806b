"""The restore drill: a desk that has traded is backed up by the scheduled backup, wiped
(positions, orders, fills, limits gone), restored with ``manage.py restore``, and every row of
positions, orders, fills and limits comes back equal, column for column. On the database the
tests run on: PostgreSQL in CI (pg_dump / pg_restore), SQLite locally (its online backup)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from tests.orders.conftest import book as trading_book, drain, enqueued, stepped_clock  # noqa: F401 (the orders' book, not the risk one)

pytestmark = pytest.mark.django_db(transaction=True)


def _models():
    from orders_app.models import Fill, Order
    from portfolio_app.models import Portfolio, Position
    from risk_app.models import RiskLimit

    return {"positions": Position, "orders": Order, "fills": Fill, "limits": RiskLimit, "portfolios": Portfolio}


def _rows() -> dict[str, list[dict]]:
    return {name: list(model.objects.order_by("pk").values()) for name, model in _models().items()}


def _trade(book, enqueued) -> None:
    """Orders placed and filled through the real services, the tasks run as a worker would."""
    from orders_app.services import order_place

    portfolio, trader, clock = book
    for symbol, side, qty in (("AAPL", "BUY", 500), ("KO", "BUY", 1200), ("XOM", "BUY", 300)):
        order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=side, quantity=Decimal(qty))
    drain(enqueued)
    clock.step(1)
    drain(enqueued)
    order_place(user=trader, portfolio_id=portfolio.pk, symbol="AAPL", side="SELL", quantity=Decimal(200))
    drain(enqueued)
    clock.step(1)
    drain(enqueued)


def _wipe() -> None:
    m = _models()
    if connection.vendor == "postgresql":
        tables = ", ".join(f'"{m[k]._meta.db_table}"' for k in ("fills", "orders", "positions", "limits"))
        with connection.cursor() as cur:
            cur.execute(f"TRUNCATE {tables} CASCADE")  # and every table that points at them
        return
    m["fills"].objects.all().delete()
    m["orders"].objects.filter(parent__isnull=False).delete()
    m["orders"].objects.all().delete()
    m["positions"].objects.all().delete()
    m["limits"].objects.all().delete()


def test_restore_drill_when_a_traded_desk_is_wiped_then_positions_orders_fills_and_limits_come_back_equal(
    trading_book, enqueued, tmp_path, settings
):
    from ops_app.backup import backup_run, file_sha256

    settings.DESK_BACKUP_DIR = tmp_path / "backups"
    _trade(trading_book, enqueued)
    before = _rows()
    assert len(before["fills"]) >= 4 and len(before["positions"]) >= 3 and len(before["limits"]) >= 3
    assert {o["status"] for o in before["orders"] if o["parent_id"] is None} == {"FILLED"}
    assert any(p["realised_pnl"] for p in before["positions"])

    record = backup_run()  # what the schedule runs
    _wipe()
    assert all(not _rows()[k] for k in ("positions", "orders", "fills", "limits"))
    assert file_sha256(tmp_path / "backups" / record.path.rsplit("/", 1)[1]) == (record.sha256, record.size_bytes)
    call_command("restore", record.path, yes=True)

    after = _rows()
    for name in before:
        assert after[name] == before[name], name
