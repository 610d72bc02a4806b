"""Rebalancing policies on the XNYS calendar and drift bands."""

from __future__ import annotations

from datetime import date

import pytest

from desk.interfaces import ConfigError
from portfolio_app.rebalancing import is_period_end, should_rebalance


def decide(policy, day, current=None, target=None, last=None, **kw):
    return should_rebalance(
        policy, market_date=day, current_weights=current or {}, target_weights=target, last_rebalance_date=last, **kw
    )


MONTHLY = {"kind": "calendar", "frequency": "monthly"}
WEEKLY = {"kind": "calendar", "frequency": "weekly"}
DAILY = {"kind": "calendar", "frequency": "daily"}


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2022, 9, 30), True),  # Friday, last session of September
        (date(2022, 9, 29), False),
        (date(2022, 4, 29), True),  # Friday, last session of April
        (date(2022, 12, 30), True),
        (date(2022, 7, 29), True),  # July 2022 ends on a Sunday
    ],
)
def test_monthly_when_date_given_then_fires_on_last_session_of_month(day, expected):
    assert decide(MONTHLY, day)[0] is expected


def test_weekly_when_friday_is_holiday_then_fires_on_thursday():
    # Good Friday 2022-04-15: the NYSE is shut, so Thursday closes the week.
    assert decide(WEEKLY, date(2022, 4, 14)) == (True, "2022-04-14 is the last trading session of the week.")
    assert decide(WEEKLY, date(2022, 4, 15))[0] is False
    assert decide(WEEKLY, date(2022, 4, 13))[0] is False


def test_daily_when_session_then_fires_and_when_weekend_then_not():
    assert decide(DAILY, date(2022, 3, 1))[0] is True
    ok, reason = decide(DAILY, date(2022, 3, 5))
    assert ok is False and "not an NYSE trading session" in reason


def test_calendar_when_already_rebalanced_today_then_skips():
    assert decide(MONTHLY, date(2022, 9, 30), last=date(2022, 9, 30)) == (False, "Already rebalanced on 2022-09-30.")


def test_is_period_end_when_month_ends_on_holiday_weekend_then_previous_session():
    # 2022-12-30 is a Friday session; 2023-01-02 is the New Year holiday.
    assert is_period_end(date(2022, 12, 30), "monthly") is True
    assert is_period_end(date(2022, 12, 29), "monthly") is False


def test_drift_when_gap_exactly_on_band_then_holds():
    ok, reason = decide({"kind": "drift", "band_pp": 5}, date(2022, 3, 1), {"A": 0.25, "B": 0.75}, {"A": 0.30, "B": 0.70})
    assert ok is False
    assert "largest gap 5.00" in reason


def test_drift_when_gap_beyond_band_then_fires_naming_the_symbol():
    ok, reason = decide({"kind": "drift", "band_pp": 5}, date(2022, 3, 1), {"A": 0.2499, "B": 0.70}, {"A": 0.30, "B": 0.70})
    assert ok is True
    assert reason.startswith("A is 5.01 percentage points off its target")


def test_drift_when_symbol_dropped_from_target_then_its_whole_weight_counts():
    ok, _ = decide({"kind": "drift", "band_pp": 5}, date(2022, 3, 1), {"A": 0.9, "C": 0.06}, {"A": 0.9})
    assert ok is True


def test_drift_when_no_target_yet_then_fires():
    assert decide({"kind": "drift", "band_pp": 5}, date(2022, 3, 1), {"A": 1.0}, None)[0] is True


def test_on_demand_when_not_requested_then_holds_and_when_requested_then_fires():
    assert decide({"kind": "on_demand"}, date(2022, 9, 30))[0] is False
    assert decide({"kind": "on_demand"}, date(2022, 9, 30), requested=True) == (True, "A trader asked for a rebalance.")


def test_policy_when_invalid_then_config_error_names_field():
    with pytest.raises(ConfigError) as err:
        decide({"kind": "calendar", "frequency": "hourly"}, date(2022, 3, 1))
    assert err.value.field == "frequency"
    with pytest.raises(ConfigError) as err:
        decide({"kind": "drift", "band_pp": -1}, date(2022, 3, 1))
    assert err.value.field == "band_pp"
