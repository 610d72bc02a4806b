"""At 10:00 replay time the day's close is in the database but not yet known to the desk: the gate's
collar, the book's valuation and the VaR returns read the intraday mark and the closes before today."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from risk_app import checks as K

from .conftest import check, intent

# 2022-03-01 10:00 New York, half an hour into the session whose close is stored below.
TEN_AM = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)
TODAYS_CLOSE = D("150.00")  # half as much again as the last close (100): any use of it shows


@pytest.fixture
def mid_session(book, stepped_clock):
    from market_app.clock import set_clock
    from market_app.marks import clear_cache
    from market_app.models import PriceBar

    for sym in ("AAPL", "MSFT", "XOM"):
        close = TODAYS_CLOSE if sym == "AAPL" else PriceBar.objects.get(instrument=book[sym], date=date(2022, 2, 28)).close
        PriceBar.objects.create(instrument=book[sym], date=date(2022, 3, 1), close=close)
    from desk.clock import SteppedClock

    set_clock(SteppedClock(TEN_AM))
    clear_cache()
    yield book
    clear_cache()


def test_gate_when_mid_session_then_collar_valuation_and_var_returns_use_market_time_not_the_days_close(mid_session, make_limit):
    from market_app.clock import get_clock
    from market_app.marks import marks_at
    from portfolio_app.models import Position
    from portfolio_app.valuation import portfolio_value
    from risk_app.snapshots import snapshot_load

    pf = mid_session["portfolio"]
    t = get_clock().market_now()
    assert t == TEN_AM
    intraday = marks_at(["AAPL"], t)["AAPL"]
    assert abs(intraday - TODAYS_CLOSE) > D(10)  # the path at 10:00 is still near yesterday's 100

    # The collar measures against the 10:00 price: a limit at today's close is far from it.
    make_limit(K.PRICE_COLLAR_PCT, 5, name="Collar")
    [v] = check(pf, intent(pf, "AAPL", 10, order_type="LIMIT", limit_price=TODAYS_CLOSE))
    assert not v.passed
    [reason] = v.reasons
    last_price = D(re.search(r"from the last price ([0-9.,]+),", reason).group(1).replace(",", ""))
    assert abs(last_price - intraday) < D("0.01"), reason  # as the reason rounds it

    # The book is valued at the 10:00 mark.
    Position.objects.create(portfolio=pf, instrument=mid_session["AAPL"], quantity=D(100), avg_cost=D("100"))
    value = portfolio_value(pf, t)
    assert value.nav == pf.cash + D(100) * intraday

    # VaR's returns end at yesterday's close: today's +50 % is not among them.
    loaded = snapshot_load(portfolio_id=pf.pk, intents=[intent(pf, "AAPL", 10)], now=t, market_now=t, need_returns=True)
    returns = loaded.context.returns
    aapl = returns.history(returns.index["AAPL"])
    assert aapl[-1] == pytest.approx(100 / 101 - 1)  # 2022-02-28 (100) over 2022-02-27 (101)
    assert max(aapl) < 0.05
    assert loaded.context.marks["AAPL"] == pytest.approx(float(intraday))
