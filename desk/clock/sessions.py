"""The XNYS session calendar, and the clock base class that answers calendar questions.

``session_table()`` builds the calendar once per process; ``CalendarClock`` puts
it on top of any clock's market time; ``WallClock`` is the live desk.
"""

from __future__ import annotations

import bisect
import functools
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from desk.interfaces import Clock

CALENDAR_NAME = "XNYS"
# The stored history starts in 1990 and the demo runs to the end of 2022; the
# bounds are explicit so the calendar does not depend on today's date.
CALENDAR_START = "1990-01-01"
CALENDAR_END = "2030-12-31"
DEFAULT_START = date(2022, 1, 3)
DATA_END = date(2022, 12, 28)
DEFAULT_SECONDS_PER_SESSION = 600.0

NEW_YORK = ZoneInfo("America/New_York")
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

WallNow = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------
# The session calendar


@dataclass(frozen=True, slots=True)
class SessionTable:
    """XNYS sessions as plain Python tuples: dates, UTC opens and closes.

    Built once per process from exchange-calendars (building XNYS takes a fraction
    of a second, too slow for every call) and never mutated, so a module-level
    cache is safe: it is the same immutable data in every process.
    """

    dates: tuple[date, ...]
    opens: tuple[datetime, ...]
    closes: tuple[datetime, ...]
    index: Mapping[date, int]

    def position(self, day: date) -> int:
        try:
            return self.index[day]
        except KeyError:
            raise ValueError(f"{day.isoformat()} is not an {CALENDAR_NAME} session") from None

    def on_or_after(self, day: date) -> int:
        i = bisect.bisect_left(self.dates, day)
        if i >= len(self.dates):
            raise ValueError(f"no {CALENDAR_NAME} session on or after {day.isoformat()}")
        return i

    def on_or_before(self, day: date) -> int:
        i = bisect.bisect_right(self.dates, day) - 1
        if i < 0:
            raise ValueError(f"no {CALENDAR_NAME} session on or before {day.isoformat()}")
        return i

    def last_opened(self, instant: datetime) -> int:
        """Index of the latest session whose open is at or before ``instant`` (-1 if none)."""
        return bisect.bisect_right(self.opens, instant) - 1


@functools.cache
def session_table() -> SessionTable:
    """The table, from this machine's cache file when one was written by the same exchange-calendars version.

    Building it (importing exchange-calendars, computing 41 years of XNYS) takes about a second, in every process
    that needs market time; reading the cached numbers back, a few milliseconds. The cache lives under the desk's
    var directory; a file that cannot be read or written is rebuilt or skipped, never an error.
    """
    path = _cache_path()
    if path is not None:
        try:
            return _table_from_ints(path.read_text())
        except (OSError, ValueError):
            pass
    table = _session_table_built()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(_table_as_ints(table))
            tmp.replace(path)  # atomic: another process never reads half a file
        except OSError:
            pass
    return table


def _cache_path():
    """Under the desk's var directory (``DESK_VAR_DIR``, else ``var/`` in the checkout, as the settings say)."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    try:
        xcals_version = version("exchange_calendars")
    except PackageNotFoundError:
        return None
    var_dir = Path(os.environ.get("DESK_VAR_DIR") or Path(__file__).resolve().parents[2] / "var")
    return var_dir / "cache" / f"sessions-{CALENDAR_NAME}-{CALENDAR_START}-{CALENDAR_END}-xcals{xcals_version}.txt"


def _micros(dt: datetime) -> int:
    return (dt - _UTC_EPOCH) // timedelta(microseconds=1)


def _table_as_ints(table: SessionTable) -> str:
    """One line per session: date ordinal, open and close in microseconds since the epoch (exact, no floats)."""
    return "\n".join(f"{d.toordinal()} {_micros(o)} {_micros(c)}" for d, o, c in zip(table.dates, table.opens, table.closes))


def _table_from_ints(text: str) -> SessionTable:
    rows = [line.split() for line in text.splitlines()]
    if len(rows) < 1000 or any(len(r) != 3 for r in rows):
        raise ValueError("not a session table")
    dates = tuple(date.fromordinal(int(r[0])) for r in rows)
    opens = tuple(_UTC_EPOCH + timedelta(microseconds=int(r[1])) for r in rows)
    closes = tuple(_UTC_EPOCH + timedelta(microseconds=int(r[2])) for r in rows)
    return SessionTable(dates=dates, opens=opens, closes=closes, index={d: i for i, d in enumerate(dates)})


def _session_table_built() -> SessionTable:
    import exchange_calendars as xcals  # imported late: slow, and only needed once

    with warnings.catch_warnings():
        # exchange-calendars 4.x reads ``Series.values`` of tz-aware columns, which
        # pandas 3 deprecates; the values it gets are still UTC, so the noise is moot.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        cal = xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START, end=CALENDAR_END)

    def as_utc(column: Any) -> tuple[datetime, ...]:
        # Integer nanoseconds -> exact microsecond datetimes, no float rounding.
        ns = column.to_numpy(dtype="datetime64[ns]").astype("int64")
        return tuple(_UTC_EPOCH + timedelta(microseconds=int(v) // 1000) for v in ns)

    opens = as_utc(cal.opens)
    closes = as_utc(cal.closes)
    dates = tuple(ts.date() for ts in cal.sessions)
    return SessionTable(dates=dates, opens=opens, closes=closes, index={d: i for i, d in enumerate(dates)})


def _as_date(value: date | datetime | str) -> date:
    """A session date from a date, an ISO string, or an aware datetime (its New York date).

    A naive midnight (a ``pd.Timestamp`` label of a daily price index) is taken as
    its date; any other naive datetime is refused, as its time zone is unknown.
    """
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(NEW_YORK).date()
        if value.time() == time(0):
            return value.date()
        raise ValueError("naive datetime: market times must be timezone-aware")
    return value


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return value.astimezone(timezone.utc)


# ---------------------------------------------------------------------------
# Clocks


class CalendarClock(Clock):
    """A ``Clock`` with the XNYS session calendar on top of its market time."""

    @property
    def exhausted(self) -> bool:
        """True once a replay has reached the close of its last session (never for wall time)."""
        return False

    def market_date(self) -> date:
        return self.market_now().astimezone(NEW_YORK).date()

    # Calendar lookups (dates are New York session dates)

    def is_session(self, day: date | datetime | str) -> bool:
        return _as_date(day) in session_table().index

    def session_open(self, day: date | datetime | str) -> datetime:
        table = session_table()
        return table.opens[table.position(_as_date(day))]

    def session_close(self, day: date | datetime | str) -> datetime:
        table = session_table()
        return table.closes[table.position(_as_date(day))]

    def previous_session(self, day: date | datetime | str) -> date:
        """The last session strictly before ``day`` (which need not be a session)."""
        table = session_table()
        i = bisect.bisect_left(table.dates, _as_date(day)) - 1
        if i < 0:
            raise ValueError(f"no {CALENDAR_NAME} session before {day}")
        return table.dates[i]

    def next_session(self, day: date | datetime | str) -> date:
        """The first session strictly after ``day`` (which need not be a session)."""
        table = session_table()
        i = bisect.bisect_right(table.dates, _as_date(day))
        if i >= len(table.dates):
            raise ValueError(f"no {CALENDAR_NAME} session after {day}")
        return table.dates[i]

    def sessions_between(self, start: date | datetime | str, end: date | datetime | str) -> list[date]:
        """Sessions from ``start`` to ``end``, both inclusive; empty when start > end."""
        table = session_table()
        lo = bisect.bisect_left(table.dates, _as_date(start))
        hi = bisect.bisect_right(table.dates, _as_date(end))
        return list(table.dates[lo:hi])

    # Where market time is within the calendar

    def current_session(self) -> date | None:
        """The latest session that has opened at market time (today's, or the last one if closed)."""
        table = session_table()
        i = table.last_opened(self.market_now())
        return table.dates[i] if i >= 0 else None

    def last_closed_session(self) -> date | None:
        """The latest session whose close is at or before market time: the base of today's P&L."""
        table = session_table()
        now = self.market_now()
        i = bisect.bisect_right(table.closes, now) - 1
        return table.dates[i] if i >= 0 else None

    def is_session_open(self) -> bool:
        """Open from the opening bell up to, not including, the close."""
        table = session_table()
        now = self.market_now()
        i = table.last_opened(now)
        return i >= 0 and now < table.closes[i]

    def session_progress(self) -> float:
        """Share of the current session elapsed, in [0, 1]; 1 once it has closed."""
        table = session_table()
        now = self.market_now()
        i = table.last_opened(now)
        if i < 0:
            return 0.0
        length = table.closes[i] - table.opens[i]
        return min(1.0, (now - table.opens[i]) / length)


class WallClock(CalendarClock):
    """The live desk: market time is real time."""

    def __init__(self, wall_now: WallNow | None = None):
        self._wall_now = wall_now or _utc_now

    def now(self) -> datetime:
        return self._wall_now()

    def market_now(self) -> datetime:
        return self._wall_now()
