"""The replayed and hand-stepped market clocks, and the settings factory.

See the package docstring for the mapping of wall time to market time.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from desk.clock.sessions import _US, DATA_END, DEFAULT_SECONDS_PER_SESSION, DEFAULT_START, CalendarClock, WallClock, WallNow, _as_date, _aware, _utc_now, session_table
from desk.interfaces import ConfigError


class ReplayClock(CalendarClock):
    """Replays XNYS sessions from ``start_market_date``, one per ``seconds_per_session`` wall seconds.

    Every session, full or half day, takes the same wall time, so beat jobs see
    one session per period whatever its length; an early close (13:00 ET) just
    moves market time more slowly. Wall period k covers session start+k: its
    first ``(1 - closed_fraction)`` runs market time from the open to the close,
    the rest (if any) sits at the close with the market shut, which gives
    close-of-day jobs a quiet moment. Between sessions market time jumps from
    one close to the next open. Past the close of ``end_market_date`` the replay
    stops there and ``exhausted`` is True; it never wraps round.

    Market time is computed in integer microseconds from the wall epoch, so every
    process given the same epoch agrees to the microsecond.
    """

    def __init__(
        self,
        start_market_date: date | str = DEFAULT_START,
        seconds_per_session: float = DEFAULT_SECONDS_PER_SESSION,
        wall_epoch: datetime | None = None,
        wall_now: WallNow | None = None,
        *,
        end_market_date: date | str = DATA_END,
        closed_fraction: float = 0.0,
    ):
        if not seconds_per_session > 0:
            raise ValueError("seconds_per_session must be positive")
        if not 0.0 <= closed_fraction < 1.0:
            raise ValueError("closed_fraction must be in [0, 1)")
        table = session_table()
        self._wall_now = wall_now or _utc_now
        self._wall_epoch = _aware(wall_epoch, "wall_epoch") if wall_epoch is not None else self._wall_now()
        # A start on a holiday or weekend begins at the next session; an end at the previous.
        self._first = table.on_or_after(_as_date(start_market_date))
        self._last = table.on_or_before(_as_date(end_market_date))
        if self._first > self._last:
            raise ValueError(f"no session between {start_market_date} and {end_market_date}")
        self._count = self._last - self._first + 1
        self._seconds_per_session = float(seconds_per_session)
        self._closed_fraction = float(closed_fraction)
        self._period_us = max(1, round(self._seconds_per_session * 1_000_000))
        self._run_us = max(1, round(self._period_us * (1.0 - self._closed_fraction)))
        self._exhausted_at_us = (self._count - 1) * self._period_us + self._run_us
        self._opens = table.opens[self._first : self._last + 1]
        self._closes = table.closes[self._first : self._last + 1]
        self._length_us = tuple((c - o) // _US for o, c in zip(self._opens, self._closes))

    # Configuration, for storing and for clock_from_settings
    @property
    def start_market_date(self) -> date:
        return session_table().dates[self._first]

    @property
    def end_market_date(self) -> date:
        return session_table().dates[self._last]

    @property
    def seconds_per_session(self) -> float:
        return self._seconds_per_session

    @property
    def wall_epoch(self) -> datetime:
        return self._wall_epoch

    def to_settings(self) -> dict[str, Any]:
        """The plain dict ``clock_from_settings`` turns back into this clock."""
        return {
            "kind": "replay",
            "start": self.start_market_date.isoformat(),
            "end": self.end_market_date.isoformat(),
            "seconds_per_session": self._seconds_per_session,
            "closed_fraction": self._closed_fraction,
            "wall_epoch": self._wall_epoch.isoformat(),
        }

    # Time

    def now(self) -> datetime:
        return self._wall_now()

    def _elapsed_us(self) -> int:
        # Wall time before the epoch (a process whose clock lags) counts as the start.
        return max(0, (self._wall_now() - self._wall_epoch) // _US)

    def market_now(self) -> datetime:
        elapsed = self._elapsed_us()
        if elapsed >= self._exhausted_at_us:
            return self._closes[-1]
        k, into = divmod(elapsed, self._period_us)
        if into >= self._run_us:
            return self._closes[k]
        return self._opens[k] + timedelta(microseconds=into * self._length_us[k] // self._run_us)

    @property
    def exhausted(self) -> bool:
        return self._elapsed_us() >= self._exhausted_at_us

    def wall_at(self, market_time: datetime) -> datetime:
        """The first wall instant at which this replay's market time is at or past ``market_time``.

        For scheduling by market time (a task ``eta`` at the session close, say).
        Raises ValueError past the end of the replay.
        """
        t = _aware(market_time, "market_time")
        if t <= self._opens[0]:
            return self._wall_epoch
        if t > self._closes[-1]:
            raise ValueError(f"{t.isoformat()} is after the replay's last close")
        k = bisect.bisect_right(self._opens, t) - 1
        if t > self._closes[k]:
            # Between sessions: reached when the next session opens.
            return self._wall_epoch + timedelta(microseconds=(k + 1) * self._period_us)
        offset_us = (t - self._opens[k]) // _US
        into = -(-offset_us * self._run_us // self._length_us[k])  # ceiling: first instant at or past t
        return self._wall_epoch + timedelta(microseconds=k * self._period_us + into)


class SteppedClock(CalendarClock):
    """Market time moved by hand (tests, benchmarks, accelerated paper runs).

    ``step`` advances *trading* time: the part of a step that would fall after a
    close continues at the next session's open, so stepping minute by minute
    walks through sessions without ever landing in a closed market (except at a
    close, where a step ending exactly there stops). ``now()`` is still wall time.
    """

    def __init__(
        self,
        start: date | datetime | str = DEFAULT_START,
        wall_now: WallNow | None = None,
        *,
        end_market_date: date | str = DATA_END,
    ):
        table = session_table()
        self._wall_now = wall_now or _utc_now
        self._last = table.on_or_before(_as_date(end_market_date))
        self._end = table.closes[self._last]
        if isinstance(start, datetime):
            self._t = _aware(start, "start")
        else:
            self._t = table.opens[table.on_or_after(_as_date(start))]
        self._t = min(self._t, self._end)

    def now(self) -> datetime:
        return self._wall_now()

    def market_now(self) -> datetime:
        return self._t

    @property
    def exhausted(self) -> bool:
        return self._t >= self._end

    def set_market_time(self, market_time: datetime) -> datetime:
        """Jump to ``market_time`` (aware); past the last close it stops there."""
        self._t = min(_aware(market_time, "market_time"), self._end)
        return self._t

    def step(self, delta: timedelta | float) -> datetime:
        """Advance by ``delta`` of trading time (a timedelta or seconds); returns the new market time."""
        remaining = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if remaining < timedelta(0):
            raise ValueError("the clock does not go backwards; use set_market_time")
        table = session_table()
        t = self._t
        while remaining > timedelta(0) and t < self._end:
            i = table.last_opened(t)
            if i < 0 or t >= table.closes[i]:
                t = table.opens[i + 1]  # closed: trading time resumes at the next open
                continue
            available = table.closes[i] - t
            if remaining <= available:
                t += remaining
                remaining = timedelta(0)
            else:
                remaining -= available
                t = table.closes[i]
        self._t = min(t, self._end)
        return self._t

    def step_sessions(self, sessions: int = 1) -> datetime:
        """Jump to the open of the ``sessions``-th session after the current one."""
        if sessions < 1:
            raise ValueError("sessions must be at least 1")
        table = session_table()
        i = table.last_opened(self._t) + sessions
        self._t = table.opens[i] if i <= self._last else self._end
        return self._t

    def to_close(self) -> datetime:
        """Jump to the close of the current session (the moment NAV is snapshotted)."""
        table = session_table()
        i = table.last_opened(self._t)
        if i < 0:
            raise ValueError("no session has opened yet")
        self._t = min(max(self._t, table.closes[i]), self._end)
        return self._t


# ---------------------------------------------------------------------------
# Settings

_KNOWN_KEYS = {"kind", "start", "end", "seconds_per_session", "wall_epoch", "closed_fraction"}


def clock_from_settings(settings: Mapping[str, Any], *, wall_now: WallNow | None = None) -> CalendarClock:
    """The clock a plain settings dict describes.

    ``{"kind": "replay"|"wall"|"stepped", "start": "2022-01-03", "end": "2022-12-28",
    "seconds_per_session": 600, "closed_fraction": 0.0, "wall_epoch": iso-string or None}``.
    ``wall_epoch`` must be the same in every process (the Django layer stores it);
    None means "now", which is only right for a single process. Unknown keys are
    refused so a misspelt setting fails at start-up, not silently.
    """
    unknown = set(settings) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(sorted(unknown)[0], f"unknown clock setting (known: {', '.join(sorted(_KNOWN_KEYS))})")
    kind = settings.get("kind", "replay")
    try:
        start = _as_date(settings.get("start") or DEFAULT_START)
    except (TypeError, ValueError) as exc:
        raise ConfigError("start", f"not an ISO date: {exc}") from None
    try:
        end = _as_date(settings.get("end") or DATA_END)
    except (TypeError, ValueError) as exc:
        raise ConfigError("end", f"not an ISO date: {exc}") from None
    if kind == "wall":
        return WallClock(wall_now=wall_now)
    if kind == "stepped":
        return SteppedClock(start, wall_now=wall_now, end_market_date=end)
    if kind != "replay":
        raise ConfigError("kind", f"{kind!r} is not one of replay, wall, stepped")
    epoch_raw = settings.get("wall_epoch")
    epoch: datetime | None = None
    if epoch_raw is not None:
        try:
            epoch = epoch_raw if isinstance(epoch_raw, datetime) else datetime.fromisoformat(epoch_raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError("wall_epoch", f"not an ISO datetime: {exc}") from None
        if epoch.tzinfo is None:
            raise ConfigError("wall_epoch", "must carry a time zone (UTC)")
    try:
        return ReplayClock(
            start,
            float(settings.get("seconds_per_session", DEFAULT_SECONDS_PER_SESSION)),
            epoch,
            wall_now,
            end_market_date=end,
            closed_fraction=float(settings.get("closed_fraction", 0.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError("clock", str(exc)) from None
