"""The one book valuation (``portfolio_app.valuation``) and every place that values a book, real database."""

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from desk.clock import NEW_YORK
from market_app.marks import MissingMark, marks_at
from portfolio_app.valuation import portfolio_value

CENT = D("0.01")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def hold(portfolio, symbol: str, quantity, avg_cost):
    from market_app.models import Instrument
    from portfolio_app.models import Position

    return Position.objects.create(portfolio=portfolio, instrument=Instrument.objects.get(symbol=symbol),
                                   quantity=D(quantity), avg_cost=D(avg_cost))


@pytest.fixture
def book(core):
    """Core Equity holding two names and a closed-out one (zero quantity: needs no mark)."""
    hold(core, "AAPL", 100, "150")
    hold(core, "MSFT", 40, "280")
    hold(core, "JPM", 0, "130")
    return core


@pytest.fixture
def newco_held(core):
    """Core Equity holding an instrument whose only close comes after the market clock's time."""
    from market_app.models import Instrument, PriceBar

    inst = Instrument.objects.create(symbol="NEWCO", name="New Co", sector="Technology", adv=D(100000))
    PriceBar.objects.create(instrument=inst, date=date(2022, 6, 10), close=D("42.000000"))
    hold(core, "AAPL", 100, "150")
    hold(core, "NEWCO", 10, "40")
    return core


def navs_of_every_caller(portfolio, market_now, user) -> dict[str, D]:
    from execution_app.overview import overview_state
    from execution_app.rebalance.policies import current_weights
    from execution_app.scenarios.paper_runs import nav_at_marks
    from portfolio_app.reports import portfolio_book
    from portfolio_app.strategy import snapshot_of
    from risk_app.snapshots import snapshot_load

    symbols = ["AAPL", "MSFT"]
    weights = current_weights(portfolio, market_now)
    return {
        "book": portfolio_book(portfolio, market_now).nav,
        "overview": overview_state(portfolio, market_now=market_now, user=user).book.nav,
        "strategy": snapshot_of(portfolio, marks_at(symbols, market_now), market_now).nav.quantize(CENT),
        "paper_run": nav_at_marks(portfolio, market_now)[0],
        "risk": snapshot_load(portfolio_id=portfolio.pk, now=market_now, market_now=market_now).snapshot.nav.quantize(CENT),
        "policy_weights_sum": D(str(round(sum(weights.values()), 10))),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("market_now", [ny(2022, 6, 1, 11, 0), ny(2022, 6, 1, 16, 0)], ids=["in_session", "at_close"])
def test_value_book_when_every_caller_values_the_same_book_then_same_nav(book, owner, market_now):
    value = portfolio_value(book, market_now)
    expected_nav = value.nav.quantize(CENT)

    navs = navs_of_every_caller(book, market_now, owner)

    weights_sum = D(str(round(sum(value.weights.values()), 10)))
    assert navs.pop("policy_weights_sum") == weights_sum
    assert navs == {k: expected_nav for k in navs}
    assert value.nav == book.cash + sum(p.quantity * p.mark for p in value.positions.values())
    assert set(value.positions) == {"AAPL", "MSFT"}  # the closed-out JPM is not valued
    assert value.gross == value.net == value.nav - book.cash


@pytest.mark.django_db
def test_nav_snapshot_when_session_closed_then_same_nav_as_valuation_at_that_close(book, market_clock):
    from portfolio_app.models import NavSnapshot
    from portfolio_app.services import nav_snapshots_take

    market_clock.set_market_time(ny(2022, 6, 1, 17, 0))

    nav_snapshots_take()

    snap = NavSnapshot.objects.get(portfolio=book, session=date(2022, 6, 1))
    assert snap.nav == portfolio_value(book, ny(2022, 6, 1, 16, 0)).nav.quantize(CENT)


@pytest.mark.django_db
def test_value_book_when_a_held_instrument_has_no_mark_then_missing_mark_names_it(newco_held, owner, market_clock):
    from execution_app.scenarios.paper_runs import nav_at_marks
    from portfolio_app.reports import portfolio_book
    from portfolio_app.strategy import snapshot_of
    from risk_app.snapshots import snapshot_load

    t = market_clock.market_now()
    callers = [
        lambda: portfolio_value(newco_held, t),
        lambda: portfolio_book(newco_held, t),
        lambda: nav_at_marks(newco_held, t),
        lambda: snapshot_of(newco_held, marks_at(["AAPL"], t), t),  # never valued at its cost
        lambda: snapshot_load(portfolio_id=newco_held.pk, now=t, market_now=t),
    ]
    for call in callers:
        with pytest.raises(MissingMark) as e:
            call()
        assert e.value.symbols == ("NEWCO",)


@pytest.mark.django_db
def test_nav_snapshot_when_a_held_instrument_has_no_close_then_no_snapshot_rather_than_a_zero(newco_held, market_clock):
    from portfolio_app.models import NavSnapshot
    from portfolio_app.services import nav_snapshots_take

    market_clock.set_market_time(ny(2022, 6, 1, 17, 0))

    nav_snapshots_take()

    assert not NavSnapshot.objects.filter(portfolio=newco_held).exists()


@pytest.mark.django_db
def test_portfolio_page_and_api_when_a_held_instrument_has_no_mark_then_error_names_it(newco_held, owner, client, api_for):
    client.force_login(owner)

    page = client.get("/portfolio/")
    overview = client.get("/")
    api = api_for(owner).get(f"/api/v1/portfolios/{newco_held.pk}/")

    assert page.status_code == 200 and "No price at or before" in page.content.decode() and "NEWCO" in page.content.decode()
    assert overview.status_code == 200 and "NEWCO" in overview.content.decode()
    assert api.status_code == 409
    assert api.json()["code"] == "missing_mark" and "NEWCO" in api.json()["message"]
