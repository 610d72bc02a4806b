"""The market clock: wall time, replayed market time, and the XNYS session calendar.

The desk's price data are daily closes ending 2022-12-28, so by default the desk
*replays* history (DESIGN.md, "The market clock"): ``ReplayClock`` maps wall time
to a market time that walks through the XNYS sessions from a start date, one
session per ``seconds_per_session`` wall seconds, skipping weekends and holidays
and honouring early closes. ``WallClock`` is the live desk (market time = real
time); ``SteppedClock`` is moved by hand, for tests and benchmarks.

Pure: no Django, no I/O. The replay is a function of (settings, wall epoch, wall
time) only, so every process (ASGI, workers, beat) that is given the same wall
epoch sees the same market time without talking to the others.
"""

from desk.clock.replay import ReplayClock, SteppedClock, clock_from_settings
from desk.clock.sessions import CALENDAR_END, CALENDAR_NAME, CALENDAR_START, DATA_END, DEFAULT_SECONDS_PER_SESSION, DEFAULT_START, NEW_YORK, CalendarClock, SessionTable, WallClock, WallNow, session_table

__all__ = [
    "CALENDAR_END",
    "CALENDAR_NAME",
    "CALENDAR_START",
    "DATA_END",
    "DEFAULT_SECONDS_PER_SESSION",
    "DEFAULT_START",
    "NEW_YORK",
    "CalendarClock",
    "ReplayClock",
    "SessionTable",
    "SteppedClock",
    "WallClock",
    "WallNow",
    "clock_from_settings",
    "session_table",
]
