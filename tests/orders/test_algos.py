"""Execution algos: schedules sum to the parent in whole lots, follow their profiles, respect limits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.interfaces import ConfigError, MarketState, OrderIntent, OrderType, Side
from market_app.intraday import volume_profile
from orders_app.algos import ALGOS, allocate_lots, get_algo

OPEN = datetime(2022, 1, 3, 14, 30, tzinfo=timezone.utc)
CLOSE = datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc)


def _intent(qty, side=Side.BUY, **kw):
    return OrderIntent(portfolio_id=1, symbol="AAA", side=side, quantity=Decimal(qty), **kw)


def _market(now=OPEN, adv=390_000.0, profile=()):
    return MarketState(
        now=now, session_open=OPEN, session_close=CLOSE, mark=Decimal(100), volume_profile=profile, adv=adv
    )


def test_allocate_lots_when_remainders_tie_then_earlier_buckets_get_the_extra_lots():
    assert allocate_lots(10, [1, 1, 1]) == [4, 3, 3]
    # 7 · [0.5, 0.25, 0.25] = [3.5, 1.75, 1.75]: floors [3, 1, 1], the two .75 remainders win
    assert allocate_lots(7, [0.5, 0.25, 0.25]) == [3, 2, 2]


def test_immediate_when_scheduled_then_one_slice_now_with_parent_limit():
    slices = ALGOS["IMMEDIATE"].schedule(
        _intent(500, order_type=OrderType.LIMIT, limit_price=Decimal("101")), _market(OPEN + timedelta(minutes=7)), {}
    )
    assert len(slices) == 1
    assert slices[0].quantity == Decimal(500)
    assert slices[0].due == OPEN + timedelta(minutes=7)
    assert slices[0].limit_price == Decimal("101")


def test_twap_when_quantity_does_not_divide_then_first_slices_take_one_more():
    slices = ALGOS["TWAP"].schedule(_intent(1003), _market(), {"slices": 10})
    assert [int(s.quantity) for s in slices] == [101, 101, 101] + [100] * 7
    # 390 minutes / 10 = 39 minutes apart, from the open
    assert [s.due for s in slices] == [OPEN + timedelta(minutes=39 * i) for i in range(10)]
    assert [s.sequence for s in slices] == list(range(10))


def test_twap_when_window_given_then_default_slices_are_five_minutes_apart():
    start = OPEN + timedelta(hours=1)
    slices = ALGOS["TWAP"].schedule(_intent(600), _market(), {"start": start, "end": start + timedelta(minutes=30)})
    assert [int(s.quantity) for s in slices] == [100] * 6
    assert slices[-1].due == start + timedelta(minutes=25)


def test_twap_when_randomised_with_a_seed_then_same_seed_same_schedule_and_sum_exact():
    params = {"slices": 20, "randomise": 0.3, "seed": 7}
    a = ALGOS["TWAP"].schedule(_intent(10_000), _market(), params)
    b = ALGOS["TWAP"].schedule(_intent(10_000), _market(), params)
    c = ALGOS["TWAP"].schedule(_intent(10_000), _market(), {**params, "seed": 8})
    assert a == b
    assert a != c
    assert sum(s.quantity for s in a) == Decimal(10_000)
    sizes = [int(s.quantity) for s in a]
    assert max(sizes) / min(sizes) <= 1.3 / 0.7 + 0.01  # factors in [0.7, 1.3], then rescaled
    dues = [s.due for s in a]
    assert dues == sorted(dues) and OPEN <= dues[0] and dues[-1] < CLOSE
    assert len({s.quantity for s in a}) > 1  # it did randomise


def test_vwap_when_flat_profile_then_equal_slices():
    slices = ALGOS["VWAP"].schedule(_intent(780), _market(profile=[1.0] * 390), {"interval_minutes": 30})
    assert [int(s.quantity) for s in slices] == [60] * 13


def test_vwap_when_default_profile_then_slices_follow_its_u_shape():
    profile = volume_profile(390)
    slices = ALGOS["VWAP"].schedule(_intent(100_000), _market(), {"interval_minutes": 65})
    shares = [profile[65 * i : 65 * (i + 1)].sum() for i in range(6)]
    assert [int(s.quantity) for s in slices] == allocate_lots(100_000, shares)
    q = [int(s.quantity) for s in slices]
    assert q[0] > q[2] and q[-1] > q[3]


def test_vwap_when_window_starts_mid_minute_then_profile_is_interpolated():
    start = OPEN + timedelta(minutes=10, seconds=30)
    slices = ALGOS["VWAP"].schedule(
        _intent(100), _market(profile=[1.0] * 390), {"start": start, "end": start + timedelta(minutes=10)}
    )
    assert [int(s.quantity) for s in slices] == [50, 50]


def test_pov_when_flat_volume_then_rate_times_bucket_volume_until_done():
    # 390,000 ADV over a flat profile is 1,000 a minute: 5,000 a bucket, 10% = 500.
    slices = ALGOS["POV"].schedule(_intent(1200), _market(profile=[1.0] * 390), {"rate": 0.1})
    assert [int(s.quantity) for s in slices] == [500, 500, 200]
    assert [s.due for s in slices] == [OPEN, OPEN + timedelta(minutes=5), OPEN + timedelta(minutes=10)]


def test_pov_when_window_volume_is_short_then_remainder_goes_last_or_expires_as_configured():
    window = {"rate": 0.1, "start": OPEN, "end": OPEN + timedelta(minutes=10)}
    last = ALGOS["POV"].schedule(_intent(1500), _market(profile=[1.0] * 390), window)
    expire = ALGOS["POV"].schedule(_intent(1500), _market(profile=[1.0] * 390), {**window, "on_shortfall": "expire"})
    assert [int(s.quantity) for s in last] == [500, 1000]
    assert [int(s.quantity) for s in expire] == [500, 500]


def test_pov_when_no_adv_then_config_error():
    with pytest.raises(ConfigError) as err:
        ALGOS["POV"].schedule(_intent(100), _market(adv=0.0), {"rate": 0.1})
    assert err.value.field == "adv"


def test_schedule_when_lot_size_given_then_every_slice_is_whole_lots():
    slices = ALGOS["TWAP"].schedule(_intent(1000), _market(), {"slices": 3, "lot_size": 100})
    assert [int(s.quantity) for s in slices] == [400, 300, 300]


def test_schedule_when_quantity_is_not_whole_lots_then_config_error():
    with pytest.raises(ConfigError) as err:
        ALGOS["VWAP"].schedule(_intent(1050), _market(), {"lot_size": 100})
    assert err.value.field == "quantity"


def test_limit_param_when_looser_than_parent_then_parent_limit_kept():
    buy = _intent(100, order_type=OrderType.LIMIT, limit_price=Decimal("101"))
    sell = _intent(100, side=Side.SELL, order_type=OrderType.LIMIT, limit_price=Decimal("99"))
    assert ALGOS["TWAP"].schedule(buy, _market(), {"slices": 1, "limit_price": "102"})[0].limit_price == Decimal("101")
    assert ALGOS["TWAP"].schedule(buy, _market(), {"slices": 1, "limit_price": "100.5"})[0].limit_price == Decimal("100.5")
    assert ALGOS["TWAP"].schedule(sell, _market(), {"slices": 1, "limit_price": "98"})[0].limit_price == Decimal("99")


def test_limit_order_when_no_limit_price_then_config_error():
    with pytest.raises(ConfigError):
        ALGOS["IMMEDIATE"].schedule(_intent(100, order_type=OrderType.LIMIT), _market(), {})


def test_twap_when_session_is_over_then_config_error():
    with pytest.raises(ConfigError) as err:
        ALGOS["TWAP"].schedule(_intent(100), _market(now=CLOSE + timedelta(minutes=1)), {})
    assert err.value.field == "end"


def test_get_algo_when_name_is_lower_case_then_found_and_unknown_raises():
    assert get_algo("vwap").name == "VWAP"
    with pytest.raises(ConfigError):
        get_algo("ICEBERG")



@pytest.mark.parametrize(
    "algo, params, field",
    [("TWAP", {"slices": "many"}, "slices"), ("TWAP", {"slices": 2.5}, "slices"), ("TWAP", {"randomise": "x"}, "randomise"),
     ("TWAP", {"randomise": 0.2, "seed": -3}, "seed"), ("VWAP", {"interval_minutes": "soon"}, "interval_minutes"),
     ("POV", {"rate": "fast"}, "rate"), ("POV", {"rate": True}, "rate")],
)
def test_schedule_when_a_param_is_not_a_number_of_its_kind_then_config_error_names_it(algo, params, field):
    with pytest.raises(ConfigError) as err:
        ALGOS[algo].schedule(_intent(100), _market(), params)
    assert err.value.field == field


def test_algos_when_listed_then_each_declares_its_own_tuning_params():
    assert {name: a.tuning for name, a in ALGOS.items()} == {
        "IMMEDIATE": (), "TWAP": ("slices", "interval_minutes", "randomise", "seed"),
        "VWAP": ("interval_minutes",), "POV": ("rate", "interval_minutes", "on_shortfall")}


@settings(max_examples=150, deadline=None)
@given(
    algo=st.sampled_from(["IMMEDIATE", "TWAP", "VWAP", "POV"]),
    lots=st.integers(1, 50_000),
    lot=st.sampled_from([1, 10, 100]),
    minutes_in=st.integers(0, 380),
    interval=st.sampled_from([1, 5, 7.5, 30]),
    randomise=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 1000),
)
def test_schedule_when_any_parent_then_sums_exactly_in_whole_lots_inside_window(
    algo, lots, lot, minutes_in, interval, randomise, seed
):
    now = OPEN + timedelta(minutes=minutes_in)
    params = {"lot_size": lot, "interval_minutes": interval, "randomise": randomise, "seed": seed, "rate": 0.05}
    slices = ALGOS[algo].schedule(_intent(lots * lot), _market(now=now, adv=1e6), params)
    assert sum(s.quantity for s in slices) == Decimal(lots * lot)
    assert all(s.quantity > 0 and s.quantity % lot == 0 for s in slices)
    assert [s.sequence for s in slices] == list(range(len(slices)))
    dues = [s.due for s in slices]
    assert dues == sorted(dues)
    assert all(now <= d <= CLOSE for d in dues)
