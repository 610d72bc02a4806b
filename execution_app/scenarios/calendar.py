"""The rebalance calendar of a scenario run, on the XNYS sessions (DESIGN.md, "Backtest fills").

- The run is invested at the close of the first trading day of the data on or
  after ``start``;
- then rebalanced at the close of the last XNYS session of each month, ISO week
  or day (``portfolio_app.rebalancing.is_period_end``'s rule, so a backtest trades
  on the same closes the live monthly policy would), up to ``end``.

A period end is decided by the exchange calendar, not by the data: data ending
on 2022-12-28 has no December 2022 month end (the last session is 12-30).
Pure: dates in, row numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from desk.clock import session_table
from desk.interfaces import ConfigError

FREQUENCIES = ("monthly", "weekly", "daily")


def _period(day: date, frequency: str) -> tuple[int, ...]:
    if frequency == "weekly":
        return tuple(day.isocalendar()[:2])
    if frequency == "monthly":
        return (day.year, day.month)
    return (day.toordinal(),)


def is_period_end(day: date, frequency: str) -> bool:
    """``day`` is the last XNYS session of its month / ISO week / (every session, daily)."""
    table = session_table()
    i = table.index.get(day)
    if i is None:
        return False
    if frequency == "daily":
        return True
    nxt = table.dates[i + 1] if i + 1 < len(table.dates) else None
    return nxt is None or _period(nxt, frequency) != _period(day, frequency)


def rebalance_rows(dates: Sequence[date], first: int, last: int, frequency: str) -> list[int]:
    """Row numbers (into ``dates``) at whose close the run trades: ``first``, then each period end up to ``last``."""
    if frequency not in FREQUENCIES:
        raise ConfigError("rebalance", f"must be one of {', '.join(FREQUENCIES)}")
    rows = [first]
    for i in range(first + 1, last + 1):
        if is_period_end(dates[i], frequency):
            rows.append(i)
    return rows


def session_close(day: date) -> datetime:
    """The UTC instant of ``day``'s close (16:00 New York, or the early close)."""
    table = session_table()
    i = table.index.get(day)
    if i is None:
        raise ConfigError("date", f"{day.isoformat()} is not an XNYS session")
    return table.closes[i]


def session_open(day: date) -> datetime:
    table = session_table()
    i = table.index.get(day)
    if i is None:
        raise ConfigError("date", f"{day.isoformat()} is not an XNYS session")
    return table.opens[i]


def next_session(day: date) -> date:
    """The XNYS session after ``day`` (a session itself)."""
    table = session_table()
    i = table.index.get(day)
    if i is None or i + 1 >= len(table.dates):
        raise ConfigError("date", f"no XNYS session after {day.isoformat()} in the calendar")
    return table.dates[i + 1]
