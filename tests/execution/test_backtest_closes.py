"""The backtest's closes matrix: read from ``PriceBar`` once, then from a cache file keyed by the bars' fingerprint."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from execution_app.scenarios import services as svc

pytestmark = pytest.mark.django_db

START, END, LOOKBACK = date(2022, 1, 3), date(2022, 6, 30), 252


@pytest.fixture
def cache_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "cache"


def _pivoted() -> tuple[pd.DataFrame, pd.Series]:
    """What ``load_closes`` returns, built the plain way: every bar as a row, pivoted by pandas."""
    from market_app.models import PriceBar

    since = START - timedelta(days=int(LOOKBACK * 1.5) + 60)
    rows = PriceBar.objects.filter(date__gte=since, date__lte=END).values_list(
        "instrument__symbol", "instrument__asset_class", "date", "close")
    frame = pd.DataFrame([(s, a, d, float(c)) for s, a, d, c in rows], columns=["symbol", "asset_class", "date", "close"])
    frame["date"] = pd.to_datetime(frame["date"])
    wide = frame.pivot(index="date", columns="symbol", values="close").sort_index()
    indexes = set(frame.loc[frame["asset_class"] == "index", "symbol"])
    return wide[[c for c in wide.columns if c not in indexes]], wide["SPX"]


def _load(**kw):
    return svc.load_closes(start=START, end=END, lookback_days=LOOKBACK, **kw)


def test_load_closes_when_read_twice_then_the_second_read_is_the_cache_file_and_the_same_frames(
    demo_small, cache_dir, django_assert_max_num_queries
):
    want, want_bench = _pivoted()

    closes, bench = _load()
    with django_assert_max_num_queries(2):  # the instruments and the bars' fingerprint, not the bars
        again, again_bench = _load()

    assert len(list(cache_dir.glob("closes-*.npz"))) == 1
    for got, got_bench in ((closes, bench), (again, again_bench)):
        pd.testing.assert_frame_equal(got, want, check_names=False, check_freq=False)
        pd.testing.assert_series_equal(got_bench, want_bench, check_names=False, check_freq=False)
    pick, _ = _load(symbols=("MSFT", "AAPL"))
    assert list(pick.columns) == ["MSFT", "AAPL"]


@pytest.mark.parametrize("change", ["close", "added", "deleted"])
def test_load_closes_when_a_bar_changes_then_the_cache_is_not_used(demo_small, cache_dir, change):
    from market_app.models import PriceBar

    closes, _ = _load()
    bar = PriceBar.objects.select_related("instrument").get(instrument__symbol="AAPL", date=date(2022, 3, 1))
    if change == "close":
        bar.close += Decimal("1.25")
        bar.save()
    elif change == "added":
        PriceBar.objects.create(instrument=bar.instrument, date=date(2022, 3, 5), close=Decimal("123.456789"))
    else:
        bar.delete()

    fresh, _ = _load()

    want, _ = _pivoted()
    pd.testing.assert_frame_equal(fresh, want, check_names=False, check_freq=False)
    assert not fresh.equals(closes)
    assert len(list(cache_dir.glob("closes-*.npz"))) == 2
