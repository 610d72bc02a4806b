"""Fixtures for the risk Django-layer tests: a small book with closes, on a hand-stepped clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

# 09:00 New York before an ordinary session: the marks are the last closes (100 / 200 / 50 below);
# in the session they would be the replayed intraday path's.
MARKET_T0 = datetime(2022, 3, 1, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def stepped_clock():
    from desk.clock.replay import SteppedClock
    from market_app.clock import set_clock

    clock = SteppedClock(MARKET_T0)
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.fixture(autouse=True)
def _fresh_engine():
    from risk_app.services import engine_reset

    engine_reset()
    yield
    engine_reset()


@pytest.fixture
def book(db, stepped_clock, trader):
    """Portfolio "Risk Book" (cash 1,000,000) and instruments AAPL / MSFT / XOM closing at 100 / 200 / 50."""
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import Portfolio

    pf = Portfolio.objects.create(name="Risk Book", cash=D("1000000.00"), long_short=True)
    pf.traders.add(trader)
    out = {"portfolio": pf}
    for sym, sector, px in (("AAPL", "Tech", "100"), ("MSFT", "Tech", "200"), ("XOM", "Energy", "50")):
        inst = Instrument.objects.create(symbol=sym, sector=sector, adv=10_000_000)
        PriceBar.objects.bulk_create(
            [PriceBar(instrument=inst, date=date(2022, 2, 1) + timedelta(days=i), close=D(px) * (1 + D(i % 3 - 1) / 100))
             for i in range(27)]
            + [PriceBar(instrument=inst, date=date(2022, 2, 28), close=D(px))]
        )
        out[sym] = inst
    return out


@pytest.fixture
def make_limit(risk_officer):
    from risk_app import services

    def make(kind, threshold, *, name=None, scope="desk", scope_key="", action="block", params=None, actor=None):
        return services.limit_create(
            actor=actor or risk_officer, reason="test setup", name=name or kind, scope=scope, scope_key=scope_key,
            kind=kind, threshold=str(threshold), action=action, params=params or {},
        )

    return make


def intent(pf, symbol, qty, side="BUY", **kw):
    from desk.interfaces import OrderIntent, Side

    return OrderIntent(portfolio_id=pf.pk, symbol=symbol, side=Side(side), quantity=D(qty), **kw)


def open_order(pf, inst, qty, side="BUY", coid=None):
    """An order placed through the real order services and SUBMITTED, so it counts as exposure."""
    from orders_app import services

    order, _ = services.order_create(
        client_order_id=coid or f"t-{inst.symbol}-{side}-{qty}-{datetime.now().timestamp()}",
        portfolio_id=pf.pk, instrument_id=inst.pk, side=side, quantity=D(qty),
    )
    return services.order_apply_event(order_id=order.pk, event="SUBMITTED")


def check(pf, *intents, **kw):
    from django.db import transaction

    from portfolio_app.models import Portfolio
    from risk_app.services import pre_trade_check

    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=pf.pk)
        return pre_trade_check(portfolio_id=pf.pk, intents=list(intents), **kw)
