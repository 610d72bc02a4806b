"""The intraday market model: U-shaped volume profile, seeded Brownian bridge, session market source."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_app.intraday import InstrumentDay, SessionMarket, brownian_bridge, interval_vwap, path_seed, volume_profile

OPEN = datetime(2022, 1, 3, 14, 30, tzinfo=timezone.utc)
CLOSE = datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc)


def test_volume_profile_when_built_then_sums_to_one_and_is_u_shaped():
    p = volume_profile(390)
    assert p.shape == (390,)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    mid = p[180:210].mean()
    assert p[:30].mean() > 2 * mid and p[-30:].mean() > 2 * mid
    assert np.argmin(p) in range(180, 210)
    assert (p > 0).all()


def test_volume_profile_when_half_day_then_its_own_length_still_sums_to_one():
    assert volume_profile(210).sum() == pytest.approx(1.0, abs=1e-12)


def test_volume_profile_when_cached_then_read_only():
    with pytest.raises(ValueError):
        volume_profile(390)[0] = 1.0


def test_brownian_bridge_when_drawn_then_starts_and_ends_exactly_on_the_closes():
    path = brownian_bridge(100.0, 103.7, 0.02, 390, seed=1)
    assert path.shape == (391,)
    assert path[0] == 100.0 and path[-1] == 103.7
    assert (path > 0).all()


def test_brownian_bridge_when_same_seed_then_same_path_and_other_seed_differs():
    a = brownian_bridge(100.0, 101.0, 0.02, 390, seed=42)
    assert np.array_equal(a, brownian_bridge(100.0, 101.0, 0.02, 390, seed=42))
    assert not np.array_equal(a, brownian_bridge(100.0, 101.0, 0.02, 390, seed=43))


def test_brownian_bridge_when_no_volatility_then_straight_line_in_log_price():
    path = brownian_bridge(100.0, 121.0, 0.0, 2, seed=0)
    assert path[1] == pytest.approx(110.0)  # geometric midpoint of 100 and 121


def test_brownian_bridge_when_many_paths_then_midday_spread_matches_daily_vol():
    # A bridge's variance at t is σ²·t·(1−t): at midday the log-price sd is σ/2.
    mids = [np.log(brownian_bridge(100.0, 100.0, 0.02, 390, seed=s)[195] / 100.0) for s in range(2000)]
    assert np.std(mids) == pytest.approx(0.01, rel=0.1)


@settings(max_examples=60, deadline=None)
@given(
    prev=st.floats(0.01, 5000),
    close=st.floats(0.01, 5000),
    vol=st.floats(0, 0.2),
    n=st.integers(1, 400),
    seed=st.integers(0, 2**32),
)
def test_brownian_bridge_when_any_inputs_then_pinned_at_both_ends(prev, close, vol, n, seed):
    path = brownian_bridge(prev, close, vol, n, seed)
    assert path[0] == prev and path[-1] == close and len(path) == n + 1


def test_path_seed_when_same_inputs_then_same_seed_and_symbols_differ():
    assert path_seed("AAPL", date(2022, 1, 3)) == path_seed("AAPL", date(2022, 1, 3))
    assert path_seed("AAPL", date(2022, 1, 3)) != path_seed("MSFT", date(2022, 1, 3))
    assert 0 <= path_seed("AAPL", date(2022, 1, 3)) < 2**63


def test_interval_vwap_when_weighted_then_volume_weighted_mean():
    assert interval_vwap(np.array([10.0, 11.0]), np.array([3.0, 1.0])) == pytest.approx(10.25)


def test_session_market_when_read_then_marks_follow_the_path_and_volume_the_profile():
    market = SessionMarket(OPEN, CLOSE, {"AAA": InstrumentDay(100.0, 101.0, 390_000.0, 0.02)})
    path = market.path("AAA")
    s = market.state("AAA", OPEN + timedelta(minutes=10, seconds=30))
    assert s.mark == path[10]
    assert s.minute_volume == pytest.approx(390_000 * volume_profile(390)[10])
    assert market.state("AAA", CLOSE).mark == 101.0  # the last tick is the day's close
    assert market.next_tick(OPEN + timedelta(seconds=5)) == OPEN + timedelta(minutes=1)
    assert market.next_tick(OPEN - timedelta(hours=1)) == OPEN
    assert market.next_tick(CLOSE) is None
    assert market.is_open(OPEN) and not market.is_open(CLOSE)


def test_session_market_vwap_when_whole_session_then_profile_weighted_path():
    market = SessionMarket(OPEN, CLOSE, {"AAA": InstrumentDay(100.0, 101.0, 390_000.0, 0.02)})
    expected = float(np.dot(market.path("AAA")[:390], volume_profile(390)))
    assert market.vwap("AAA", OPEN, CLOSE) == pytest.approx(expected)
