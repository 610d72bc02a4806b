"""End-of-day report tests: the demo book on a hand-stepped market clock (the order tests' fixtures)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.orders.conftest import book, drain, enqueued, stepped_clock  # noqa: F401  (fixtures shared with the order tests)

SESSION = date(2022, 3, 1)  # tests.orders.conftest.MARKET_T0's session


def place(book, symbol: str, qty: int, side: str = "BUY", **kw):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=side, quantity=Decimal(qty), **kw)


def work(book, enqueued, seconds: float = 1):  # noqa: F811
    """Run what the orders enqueued, as a worker would, around a step of the market clock."""
    drain(enqueued)
    book[2].step(seconds)
    return drain(enqueued)


@pytest.fixture
def traded_day(book, enqueued):  # noqa: F811
    """2022-03-01 traded: two orders filled, one denied by the limits; the clock at the close."""
    filled = [place(book, "AAPL", 500), place(book, "KO", 1200)]
    denied = place(book, "MSFT", 20_000)
    work(book, enqueued)
    book[2].to_close()
    return {"filled": filled, "denied": denied}
