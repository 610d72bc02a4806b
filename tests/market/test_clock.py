"""The market clock maps wall time onto XNYS sessions (DESIGN.md, "The market clock").

Times in comments are New York local; 09:30 ET is 14:30 UTC in winter (EST) and
13:30 UTC in summer (EDT).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.clock import NEW_YORK, CalendarClock, ReplayClock, SteppedClock, WallClock, clock_from_settings
from desk.interfaces import Clock, ConfigError

EPOCH = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


class FakeWall:
    """Wall time the test moves by hand."""

    def __init__(self, start: datetime = EPOCH):
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def replay(wall: FakeWall, **kwargs) -> ReplayClock:
    return ReplayClock(wall_epoch=EPOCH, wall_now=wall, **kwargs)


# ---------------------------------------------------------------------------
# Calendar


def test_session_open_when_winter_day_then_0930_new_york_in_utc():
    clock = SteppedClock()

    assert clock.session_open(date(2022, 1, 3)) == utc(2022, 1, 3, 14, 30)
    assert clock.session_close(date(2022, 1, 3)) == utc(2022, 1, 3, 21, 0)


def test_session_open_when_summer_day_then_daylight_saving_shifts_utc_hour():
    clock = SteppedClock()

    assert clock.session_open("2022-07-01") == utc(2022, 7, 1, 13, 30)
    assert clock.session_close("2022-07-01") == utc(2022, 7, 1, 20, 0)


def test_session_close_when_day_after_thanksgiving_then_early_close_at_1300():
    clock = SteppedClock()

    close = clock.session_close(date(2022, 11, 25))

    assert close.astimezone(NEW_YORK).hour == 13
    assert close == utc(2022, 11, 25, 18, 0)


def test_is_session_when_weekend_or_mlk_day_then_false():
    clock = SteppedClock()

    assert clock.is_session(date(2022, 1, 14))  # Friday
    assert not clock.is_session(date(2022, 1, 15))  # Saturday
    assert not clock.is_session(date(2022, 1, 16))  # Sunday
    assert not clock.is_session(date(2022, 1, 17))  # Martin Luther King Jr. Day
    assert clock.is_session(date(2022, 1, 18))


def test_session_lookups_when_given_naive_midnight_label_then_taken_as_date():
    import pandas as pd

    clock = SteppedClock()

    assert clock.session_open(pd.Timestamp("2022-01-03")) == utc(2022, 1, 3, 14, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.session_open(datetime(2022, 1, 3, 15, 0))


def test_session_open_when_not_a_session_then_value_error():
    with pytest.raises(ValueError, match="2022-01-17 is not an XNYS session"):
        SteppedClock().session_open(date(2022, 1, 17))


def test_next_and_previous_session_when_around_long_weekend_then_skip_it():
    clock = SteppedClock()

    assert clock.next_session(date(2022, 1, 14)) == date(2022, 1, 18)
    assert clock.previous_session(date(2022, 1, 18)) == date(2022, 1, 14)
    assert clock.next_session(date(2022, 1, 15)) == date(2022, 1, 18)  # from a non-session
    assert clock.previous_session(date(2022, 1, 17)) == date(2022, 1, 14)


def test_sessions_between_when_january_2022_then_twenty_sessions_inclusive():
    clock = SteppedClock()

    sessions = clock.sessions_between(date(2022, 1, 1), date(2022, 1, 31))

    assert len(sessions) == 20  # 21 weekdays less MLK day
    assert sessions[0] == date(2022, 1, 3) and sessions[-1] == date(2022, 1, 31)
    assert date(2022, 1, 17) not in sessions
    assert clock.sessions_between(date(2022, 1, 31), date(2022, 1, 3)) == []


def test_sessions_between_when_history_starts_2000_then_calendar_covers_it():
    clock = SteppedClock()

    assert clock.sessions_between("2000-01-01", "2000-01-07") == [date(2000, 1, d) for d in (3, 4, 5, 6, 7)]


# ---------------------------------------------------------------------------
# Replay


def test_market_now_when_replay_starts_then_first_session_open():
    wall = FakeWall()
    clock = replay(wall)

    assert clock.market_now() == utc(2022, 1, 3, 14, 30)
    assert clock.market_date() == date(2022, 1, 3)
    assert clock.is_session_open()
    assert clock.session_progress() == 0.0
    assert clock.now() == EPOCH
    assert isinstance(clock, Clock)


def test_market_now_when_half_the_wall_period_passed_then_mid_session():
    wall = FakeWall()
    clock = replay(wall)

    wall.advance(300)

    # 6.5 h session / 2 = 3 h 15 min after 09:30 -> 12:45 ET = 17:45 UTC
    assert clock.market_now() == utc(2022, 1, 3, 17, 45)
    assert clock.session_progress() == pytest.approx(0.5)


def test_market_now_when_600_wall_seconds_passed_then_exactly_one_session_passed():
    wall = FakeWall()
    clock = replay(wall)

    wall.advance(600)

    assert clock.market_now() == utc(2022, 1, 4, 14, 30)
    assert clock.previous_session(clock.market_date()) == date(2022, 1, 3)
    assert clock.last_closed_session() == date(2022, 1, 3)


def test_market_now_when_replay_crosses_weekend_and_mlk_day_then_skips_them():
    wall = FakeWall()
    clock = replay(wall, start_market_date=date(2022, 1, 14))  # Friday before MLK day

    wall.advance(600)

    assert clock.market_date() == date(2022, 1, 18)  # Tuesday


def test_market_now_when_replay_in_half_day_then_session_spans_0930_to_1300():
    wall = FakeWall()
    clock = replay(wall, start_market_date=date(2022, 11, 25))

    wall.advance(300)
    mid = clock.market_now()
    wall.advance(299.999)
    near_close = clock.market_now()

    # 3.5 h session / 2 = 1 h 45 min after 09:30 -> 11:15 ET = 16:15 UTC
    assert mid == utc(2022, 11, 25, 16, 15)
    assert utc(2022, 11, 25, 17, 59) < near_close < utc(2022, 11, 25, 18, 0)


def test_market_now_when_start_is_a_holiday_then_replay_begins_next_session():
    wall = FakeWall()
    clock = replay(wall, start_market_date=date(2022, 1, 17))

    assert clock.start_market_date == date(2022, 1, 18)
    assert clock.market_now() == utc(2022, 1, 18, 14, 30)


def test_market_now_when_speed_is_60_seconds_then_ten_sessions_in_ten_minutes():
    wall = FakeWall()
    clock = replay(wall, seconds_per_session=60)

    wall.advance(600)

    assert clock.market_date() == clock.sessions_between("2022-01-03", "2022-01-31")[10]


def test_market_now_when_wall_time_before_epoch_then_first_open():
    wall = FakeWall(EPOCH - timedelta(seconds=5))
    clock = replay(wall)

    assert clock.market_now() == utc(2022, 1, 3, 14, 30)


def test_market_now_when_closed_fraction_then_market_rests_at_close():
    wall = FakeWall()
    clock = replay(wall, closed_fraction=0.1)

    wall.advance(540)  # 90 % of the period: the close
    at_close = clock.market_now()
    wall.advance(30)
    resting = clock.market_now()

    assert at_close == resting == utc(2022, 1, 3, 21, 0)
    assert not clock.is_session_open()
    assert clock.session_progress() == 1.0
    assert clock.last_closed_session() == date(2022, 1, 3)


def test_exhausted_when_replay_runs_past_last_session_then_stops_at_its_close():
    wall = FakeWall()
    clock = replay(wall, start_market_date=date(2022, 12, 27))
    assert clock.end_market_date == date(2022, 12, 28)

    wall.advance(1199)
    assert not clock.exhausted
    wall.advance(1)
    at_end = clock.market_now()
    wall.advance(10 * 600)

    assert clock.exhausted
    assert at_end == clock.market_now() == utc(2022, 12, 28, 21, 0)
    assert not clock.is_session_open()


def test_exhausted_when_whole_2022_replayed_then_after_one_period_per_session():
    wall = FakeWall()
    clock = replay(wall)
    n = len(clock.sessions_between("2022-01-03", "2022-12-28"))

    wall.advance(600 * n - 1)
    assert not clock.exhausted and clock.market_date() == date(2022, 12, 28)
    wall.advance(1)
    assert clock.exhausted


@settings(max_examples=200, deadline=None)
@given(elapsed=st.floats(min_value=0, max_value=600 * 260))
def test_market_now_when_any_wall_time_then_inside_a_session_and_monotonic(elapsed):
    wall = FakeWall()
    clock = replay(wall)
    wall.advance(elapsed)
    t1 = clock.market_now()
    day = clock.market_date()
    progress = clock.session_progress()
    wall.advance(7)
    t2 = clock.market_now()

    assert clock.is_session(day)
    assert clock.session_open(day) <= t1 <= clock.session_close(day)
    assert t2 >= t1
    assert 0.0 <= progress <= 1.0


@settings(max_examples=200, deadline=None)
@given(elapsed=st.integers(min_value=0, max_value=600 * 248 - 1))
def test_wall_at_when_given_market_time_of_some_wall_time_then_reaches_it_no_later(elapsed):
    wall = FakeWall()
    clock = replay(wall)
    wall.advance(elapsed)
    target = clock.market_now()

    at = clock.wall_at(target)

    assert at <= wall.t
    wall.t = at
    assert clock.market_now() >= target


def test_wall_at_when_market_time_is_overnight_then_next_period_start():
    clock = replay(FakeWall())

    assert clock.wall_at(utc(2022, 1, 4, 3, 0)) == EPOCH + timedelta(seconds=600)


def test_to_settings_when_round_tripped_then_same_market_time():
    wall = FakeWall()
    clock = replay(wall, start_market_date=date(2022, 3, 1), seconds_per_session=120)
    wall.advance(1000)

    again = clock_from_settings(clock.to_settings(), wall_now=wall)

    assert again.market_now() == clock.market_now()


# ---------------------------------------------------------------------------
# Stepping


def test_step_when_within_session_then_moves_by_that_much():
    clock = SteppedClock(date(2022, 1, 3))

    clock.step(timedelta(minutes=90))

    assert clock.market_now() == utc(2022, 1, 3, 16, 0)
    assert clock.session_progress() == pytest.approx(90 / 390)


def test_step_when_crossing_close_then_continues_at_next_open():
    clock = SteppedClock(date(2022, 1, 14))
    clock.to_close()
    assert not clock.is_session_open()

    clock.step(60)

    assert clock.market_now() == utc(2022, 1, 18, 14, 31)  # over the weekend and MLK day


def test_step_when_ending_exactly_at_close_then_stops_there():
    clock = SteppedClock(date(2022, 11, 25))

    clock.step(timedelta(hours=3, minutes=30))

    assert clock.market_now() == utc(2022, 11, 25, 18, 0)
    assert not clock.is_session_open()
    assert clock.last_closed_session() == date(2022, 11, 25)


def test_step_sessions_when_two_then_open_of_second_next_session():
    clock = SteppedClock(date(2022, 1, 13))

    clock.step_sessions(2)

    assert clock.market_now() == utc(2022, 1, 18, 14, 30)


def test_set_market_time_when_saturday_then_closed_and_previous_session_current():
    clock = SteppedClock()

    clock.set_market_time(utc(2022, 1, 15, 15, 0))

    assert not clock.is_session_open()
    assert clock.current_session() == date(2022, 1, 14)
    assert clock.session_progress() == 1.0
    clock.step(1)
    assert clock.market_now() == utc(2022, 1, 18, 14, 30, 1)


def test_step_when_past_end_then_exhausted_at_last_close():
    clock = SteppedClock(date(2022, 12, 28))

    clock.step(timedelta(days=3))

    assert clock.exhausted
    assert clock.market_now() == utc(2022, 12, 28, 21, 0)


def test_step_when_negative_then_value_error():
    with pytest.raises(ValueError):
        SteppedClock().step(-1)


def test_set_market_time_when_naive_then_value_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        SteppedClock().set_market_time(datetime(2022, 1, 3, 15, 0))


# ---------------------------------------------------------------------------
# Wall clock and settings


def test_wall_clock_when_asked_then_market_time_is_wall_time():
    wall = FakeWall(utc(2022, 11, 25, 17, 0))  # 12:00 ET on a half day
    clock = WallClock(wall_now=wall)

    assert clock.market_now() == clock.now() == wall.t
    assert clock.is_session_open()
    assert clock.session_progress() == pytest.approx(2.5 / 3.5)
    assert not clock.exhausted


def test_clock_from_settings_when_each_kind_then_right_class():
    assert isinstance(clock_from_settings({"kind": "wall"}), WallClock)
    assert isinstance(clock_from_settings({"kind": "stepped", "start": "2022-02-01"}), SteppedClock)
    clock = clock_from_settings(
        {"kind": "replay", "start": "2022-01-03", "seconds_per_session": 600, "wall_epoch": EPOCH.isoformat()},
        wall_now=FakeWall(EPOCH + timedelta(seconds=600)),
    )
    assert isinstance(clock, ReplayClock) and isinstance(clock, CalendarClock)
    assert clock.market_now() == utc(2022, 1, 4, 14, 30)


def test_clock_from_settings_when_epoch_none_then_starts_now():
    wall = FakeWall()
    clock = clock_from_settings({"kind": "replay", "wall_epoch": None}, wall_now=wall)

    assert clock.wall_epoch == EPOCH
    assert clock.market_now() == utc(2022, 1, 3, 14, 30)


@pytest.mark.parametrize(
    ("settings_dict", "field"),
    [
        ({"kind": "sundial"}, "kind"),
        ({"kind": "replay", "speed": 2}, "speed"),
        ({"kind": "replay", "start": "03/01/2022"}, "start"),
        ({"kind": "replay", "wall_epoch": "2024-06-01T12:00:00"}, "wall_epoch"),
        ({"kind": "replay", "seconds_per_session": 0}, "clock"),
    ],
)
def test_clock_from_settings_when_invalid_then_config_error_names_field(settings_dict, field):
    with pytest.raises(ConfigError) as err:
        clock_from_settings(settings_dict)

    assert err.value.field == field


def test_session_table_when_read_from_the_cache_file_then_equal_to_the_one_built_from_exchange_calendars(monkeypatch, tmp_path):
    from desk.clock import sessions

    monkeypatch.setenv("DESK_VAR_DIR", str(tmp_path))
    sessions.session_table.cache_clear()
    try:
        built = sessions._session_table_built()
        first = sessions.session_table()  # builds and writes the cache
        [cache] = (tmp_path / "cache").glob("sessions-XNYS-*.txt")
        sessions.session_table.cache_clear()
        cached = sessions.session_table()  # reads it back
        cache.write_text("not a table")
        sessions.session_table.cache_clear()
        rebuilt = sessions.session_table()  # a bad file is rebuilt, not an error
    finally:
        sessions.session_table.cache_clear()

    assert first == cached == rebuilt == built
    assert cached.opens[0].tzinfo is not None and cached.dates[0] == built.dates[0]
