from decimal import Decimal

import pytest

from ops_app import demo


@pytest.mark.django_db
def test_load_demo_when_run_then_counts_match_the_dataset(django_assert_max_num_queries):
    from orders_app.models import Venue
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import Portfolio

    prices, index = demo.price_frames()
    expected_bars = int(prices.notna().sum().sum() + index.notna().sum().sum())

    # Bulk, not row by row: 174k bars must not cost anything like one query per row.
    with django_assert_max_num_queries(800):
        result = demo.demo_load()

    assert result.bars_created == expected_bars
    assert Instrument.objects.filter(asset_class="equity").count() == 20
    assert Instrument.objects.get(symbol="SPX").asset_class == "index"
    assert PriceBar.objects.count() == expected_bars
    assert Venue.objects.count() == 3
    core = Portfolio.objects.get(name="Core Equity")
    assert str(core.cash) == "10000000.00"
    assert core.benchmark.symbol == "SPX"
    assert sorted(core.traders.values_list("username", flat=True)) == ["trader", "trader2"]  # maker != checker
    assert Instrument.objects.get(symbol="JPM").sector == "Financials"
    last = PriceBar.objects.get(instrument__symbol="AAPL", date="2022-12-28")
    assert str(last.close) == "125.674000"


@pytest.mark.django_db
def test_load_demo_when_run_twice_then_second_run_changes_nothing(demo_small):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from market_app.models import PriceBar

    bars = PriceBar.objects.count()
    tokens = set(Token.objects.values_list("key", flat=True))
    hashes = dict(get_user_model().objects.values_list("username", "password"))

    frames = demo.price_frames()
    original = demo.price_frames
    demo.price_frames = lambda: (frames[0].loc["2020-01-01":], frames[1].loc["2020-01-01":])
    try:
        again = demo.demo_load()
    finally:
        demo.price_frames = original

    assert again.instruments_created == 0 and again.bars_created == 0
    assert PriceBar.objects.count() == bars
    assert set(Token.objects.values_list("key", flat=True)) == tokens
    assert dict(get_user_model().objects.values_list("username", "password")) == hashes


def _small_frames():
    frames = demo.price_frames()
    return frames[0].loc["2019-01-01":], frames[1].loc["2019-01-01":]


@pytest.fixture
def demo_with_history(db):
    """The demo with its history (as ``manage.py load_demo`` loads it), on 4 years of closes."""
    original = demo.price_frames
    frames = _small_frames()
    demo.price_frames = lambda: frames
    try:
        return demo.demo_load(history=True)
    finally:
        demo.price_frames = original


@pytest.mark.django_db
def test_load_demo_when_history_asked_then_the_backtest_books_orders_fills_positions_and_nav(demo_with_history):
    from django.db.models import Sum

    from execution_app.models import ScenarioRun
    from market_app.models import PriceBar
    from orders_app.models import Fill, Order
    from portfolio_app.models import NavSnapshot, Portfolio, Position

    h = demo_with_history.history
    core = Portfolio.objects.get(name="Core Equity")
    run = ScenarioRun.objects.get(pk=h.run_id)
    assert run.status == "done" and run.portfolio_id == core.pk and run.kind == "backtest"
    # Every fill the run made is one order of the book, FILLED through the order's state machine.
    assert h.orders == Order.objects.filter(portfolio=core).count() == run.trades.count() > 20
    assert set(Order.objects.filter(portfolio=core).values_list("status", flat=True)) == {"FILLED"}
    assert set(Order.objects.filter(portfolio=core).values_list("events__event", flat=True)) >= {
        "INITIALIZED", "SUBMITTED", "ACCEPTED", "FILLED"}
    assert Fill.objects.filter(order__portfolio=core).count() == h.fills == h.orders
    # Position quantity = sum of its fills; some were reduced at a profit or a loss.
    for pos in Position.objects.filter(portfolio=core):
        fills = Fill.objects.filter(order__portfolio=core, order__instrument=pos.instrument)
        bought = fills.filter(order__side="BUY").aggregate(q=Sum("last_qty"))["q"] or 0
        sold = fills.filter(order__side="SELL").aggregate(q=Sum("last_qty"))["q"] or 0
        assert pos.quantity == bought - sold
    assert Position.objects.filter(portfolio=core).exclude(realised_pnl=0).exists()
    assert Position.objects.filter(portfolio=core, quantity__gt=0).count() >= 5
    # A NAV snapshot at every session's close up to the one before the clock's start; the last one is
    # the book as booked: cash + quantity x that close, to the cent.
    snaps = list(NavSnapshot.objects.filter(portfolio=core).order_by("session"))
    assert len(snaps) == h.sessions == demo.HISTORY_SESSIONS
    assert str(snaps[-1].session) == "2021-12-31" and str(snaps[0].session) < "2021-07-15"
    closes = dict(PriceBar.objects.filter(date=snaps[-1].session).values_list("instrument_id", "close"))
    held = sum(p.quantity * closes[p.instrument_id] for p in Position.objects.filter(portfolio=core))
    assert snaps[-1].nav == (core.cash + held).quantize(Decimal("0.01"))
    assert snaps[-1].cash == core.cash
    assert len({s.nav for s in snaps}) > 100  # the book moved with the market
    assert core.peak_nav == max(s.nav for s in snaps)
    # Orders carry the market time of their fills, so the blotter says when they happened.
    first = Order.objects.filter(portfolio=core).order_by("created_at").first()
    assert first.created_at == first.fills.get().ts_event and first.created_at.date() == snaps[0].session


@pytest.mark.django_db
def test_load_demo_when_history_asked_then_a_desk_requested_proposal_awaits_either_trader(demo_with_history):
    from django.contrib.auth import get_user_model

    from portfolio_app.models import RebalanceProposal
    from execution_app.rebalance.approval import proposal_approve

    p = RebalanceProposal.objects.get(pk=demo_with_history.proposal_id)
    assert p.status == "PENDING_APPROVAL" and p.created_by is None and p.trades.count() > 0
    assert p.trigger == demo.OPENING_TRIGGER
    # No trader asked for it (maker != checker holds trivially): the demo's trader may approve it.
    approved = proposal_approve(proposal_id=p.pk, actor=get_user_model().objects.get(username="trader"))
    assert approved.status in ("EXECUTING", "COMPLETED")


@pytest.mark.django_db
def test_load_demo_when_run_again_with_history_then_nothing_changes(demo_with_history):
    from orders_app.models import Fill, Order
    from portfolio_app.models import NavSnapshot, Portfolio, Position, RebalanceProposal

    def state():
        core = Portfolio.objects.get(name="Core Equity")
        return (core.cash, Order.objects.count(), Fill.objects.count(), NavSnapshot.objects.count(),
                RebalanceProposal.objects.count(), sorted(Position.objects.values_list("instrument_id", "quantity")))

    before = state()
    original = demo.price_frames
    frames = _small_frames()
    demo.price_frames = lambda: frames
    try:
        again = demo.demo_load(history=True)
    finally:
        demo.price_frames = original
    assert again.history.skipped and again.proposal_id is None
    assert state() == before


@pytest.mark.django_db
def test_load_demo_when_history_not_asked_then_the_book_is_all_cash(demo_small):
    from orders_app.models import Order
    from portfolio_app.models import NavSnapshot

    assert demo_small.history is None
    assert not Order.objects.exists() and not NavSnapshot.objects.exists()
