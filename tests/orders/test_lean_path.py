"""The lean order path: what one submit, one routing and one basket cost in database round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)

SUBMIT_QUERIES = 10


def _place(book, symbol="AAPL", qty=500, **kw):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=kw.pop("side", "BUY"), quantity=Decimal(qty), **kw)


def test_order_place_when_a_manual_order_passes_then_submitted_in_at_most_ten_queries(book, enqueued):
    _place(book, "AAPL", 10)  # the per-process caches (limits engine, marks, calendar) warm, as on a running desk
    with CaptureQueriesContext(connection) as ctx:
        order = _place(book, "AAPL", 500)
    order.refresh_from_db()
    assert order.status == "SUBMITTED" and [e.event for e in order.events.order_by("id")] == ["INITIALIZED", "SUBMITTED"]
    statements = [q["sql"] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]  # one transaction
    assert sum(q == "BEGIN" for q in (c["sql"] for c in ctx.captured_queries)) == 1
    assert len(statements) <= SUBMIT_QUERIES, "\n".join(q[:160] for q in statements)
