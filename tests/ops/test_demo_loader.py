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
