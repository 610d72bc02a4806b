"""The desk's one mark rule (``market_app.marks.marks_at``) on the demo's closes, real database."""

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from desk.clock import NEW_YORK, SteppedClock
from desk.errors import DomainError
from market_app.clock import set_clock
from market_app.marks import MissingMark, marks_at


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def close_of(symbol: str, day: date) -> D:
    from market_app.models import PriceBar

    return PriceBar.objects.get(instrument__symbol=symbol, date=day).close


@pytest.fixture
def stepped():
    clock = SteppedClock(ny(2022, 6, 1, 10, 0))
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.fixture
def newco(demo_small):
    """An instrument whose first close comes after the market times below."""
    from market_app.models import Instrument, PriceBar

    inst = Instrument.objects.create(symbol="NEWCO", name="New Co", sector="Technology", adv=D(100000))
    PriceBar.objects.create(instrument=inst, date=date(2022, 6, 10), close=D("42.000000"))
    return inst


@pytest.mark.django_db
def test_marks_at_when_mid_session_then_intraday_price_not_that_days_close(demo_small, stepped):
    from market_app.marks import session_at, session_market

    t = stepped.market_now()  # 10:00 New York on a replayed session

    marks = marks_at(["AAPL", "MSFT"], t)

    market = session_market(session_at(t), ["AAPL", "MSFT"])
    for s in ("AAPL", "MSFT"):
        assert marks[s] == D(repr(market.state(s, t).mark)).quantize(D("0.000001"))
        assert marks[s] != close_of(s, date(2022, 6, 1))  # the day's close is not known at 10:00


@pytest.mark.django_db
def test_marks_at_when_outside_the_session_then_last_close_at_or_before_market_time(demo_small):
    before_open = marks_at(["AAPL"], ny(2022, 6, 1, 8, 0))
    after_close = marks_at(["AAPL"], ny(2022, 6, 1, 16, 0))
    weekend = marks_at(["AAPL"], ny(2022, 6, 4, 12, 0))

    assert before_open["AAPL"] == close_of("AAPL", date(2022, 5, 31))  # never the day's own close
    assert after_close["AAPL"] == close_of("AAPL", date(2022, 6, 1))
    assert weekend["AAPL"] == close_of("AAPL", date(2022, 6, 3))


@pytest.mark.django_db
def test_marks_at_when_no_price_at_or_before_market_time_then_missing_mark_names_each_instrument(newco, stepped):
    with pytest.raises(MissingMark) as in_session:
        marks_at(["AAPL", "NEWCO"], stepped.market_now())
    with pytest.raises(MissingMark) as outside:
        marks_at(["NEWCO", "AAPL", "NOSUCH"], ny(2022, 6, 1, 18, 0))

    assert in_session.value.symbols == ("NEWCO",)  # its later close is never used
    assert "NEWCO" in str(in_session.value) and "AAPL" not in str(in_session.value)
    assert outside.value.symbols == ("NEWCO", "NOSUCH")
    assert isinstance(outside.value, DomainError) and outside.value.code == "missing_mark"
    assert marks_at([], stepped.market_now()) == {}
