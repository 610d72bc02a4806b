from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from desk.clock import SteppedClock
from market_app.clock import set_clock
from market_app.services import price_ticks_publish
from portfolio_app.services import nav_snapshots_take


@pytest.fixture
def stepped():
    clock = SteppedClock(start=date(2022, 1, 4))
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.mark.django_db
def test_nav_snapshots_when_session_closed_then_one_snapshot_at_closes_and_peak(demo_small, stepped):
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import NavSnapshot, Portfolio, Position

    pf = Portfolio.objects.get(name="Core Equity")
    aapl = Instrument.objects.get(symbol="AAPL")
    Position.objects.create(portfolio=pf, instrument=aapl, quantity=D(100), avg_cost=D("150"))
    close = PriceBar.objects.get(instrument=aapl, date=date(2022, 1, 3)).close

    assert nav_snapshots_take() == 1
    assert nav_snapshots_take() == 0  # idempotent

    snap = NavSnapshot.objects.get(portfolio=pf)
    assert snap.session == date(2022, 1, 3)
    assert snap.nav == (pf.cash + 100 * close).quantize(D("0.01"))
    pf.refresh_from_db()
    assert pf.peak_nav == snap.nav


@pytest.mark.django_db
def test_price_ticks_when_market_closed_then_nothing_and_when_open_then_every_tradable(demo_small, stepped, django_capture_on_commit_callbacks):
    stepped.set_market_time(datetime(2022, 1, 4, 12, 0, tzinfo=UTC))  # 07:00 New York: closed
    assert price_ticks_publish() == 0
    stepped.set_market_time(datetime(2022, 1, 4, 16, 0, tzinfo=UTC))  # 11:00 New York
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert price_ticks_publish() == 20
    assert len(callbacks) == 1
