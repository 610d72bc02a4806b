"""The lean submit in CPU: once a process has placed an order, the next one builds and compiles no read query
(its reads run SQL compiled once per process, ``desk.compiled``); only its writes go through the ORM's compiler."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models.sql import compiler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def read_compiles(monkeypatch):
    """The SQL of every read query the ORM compiles (writes aside)."""
    seen: list[str] = []
    original = compiler.SQLCompiler.as_sql

    def as_sql(self, *args, **kwargs):
        sql, params = original(self, *args, **kwargs)
        writes = (compiler.SQLInsertCompiler, compiler.SQLUpdateCompiler, compiler.SQLDeleteCompiler)
        if not isinstance(self, writes) and not self.query.subquery:
            seen.append(sql)
        return sql, params

    monkeypatch.setattr(compiler.SQLCompiler, "as_sql", as_sql)
    return seen


def test_order_place_when_the_process_is_warm_then_no_read_is_built_or_compiled(book, enqueued, read_compiles):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    # Warm, as on a running desk: the per-process caches (limits engine, AAPL's market day, the compiled reads).
    order_place(user=trader, portfolio_id=portfolio.pk, symbol="AAPL", side="BUY", quantity=Decimal(10))
    read_compiles.clear()

    order = order_place(user=trader, portfolio_id=portfolio.pk, symbol="AAPL", side="BUY", quantity=Decimal(20))

    assert order.status == "SUBMITTED"
    assert read_compiles == []
