"""The intraday market model of DESIGN.md ("Intraday prices", "Volume and liquidity").

Daily closes are all the desk stores, so a replayed session is synthesised:

- the price path of each instrument is a seeded Brownian bridge from the previous
  close to the day's close (in log price, so it never goes negative), with the
  volatility of its recent daily returns;
- market volume over the session follows a U-shaped profile (busy at the open
  and the close, quiet at lunch) scaled by the instrument's average daily volume.

Pure numpy, no I/O. The seed of a path is a stable hash of (symbol, session
date, desk seed), so every process draws the same path without talking to the
others (Python's own ``hash`` is salted per process, hence hashlib).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

SESSION_MINUTES = 390
VOL_WINDOW = 60  # daily returns in an instrument's volatility
DEFAULT_VOL = 0.02  # when there are too few of them
DEFAULT_ADV = 1_000_000.0  # shares, for an instrument whose average daily volume is not known
# Open and close weights relative to midday: intraday volume in US equities is
# roughly 2-3x heavier in the first and last half hour than at lunch.
_U_DEPTH = 2.5
_CLOSE_TILT = 0.4  # the close is a little busier than the open (MOC imbalance)


@functools.lru_cache(maxsize=16)
def _profile(n_minutes: int) -> np.ndarray:
    x = (np.arange(n_minutes, dtype=float) + 0.5) / n_minutes  # minute midpoints in (0, 1)
    w = 1.0 + _U_DEPTH * (2.0 * x - 1.0) ** 2 + _CLOSE_TILT * x**8
    w /= w.sum()
    w.setflags(write=False)  # cached and shared: nobody may scale it in place
    return w


def volume_profile(n_minutes: int = SESSION_MINUTES) -> np.ndarray:
    """Share of the session's volume traded in each minute: U-shaped, sums to 1 (read-only array)."""
    if n_minutes < 1:
        raise ValueError("n_minutes must be at least 1")
    return _profile(int(n_minutes))


def brownian_bridge(prev_close: float, close: float, daily_vol: float, n_steps: int, seed: int) -> np.ndarray:
    """A price path of ``n_steps + 1`` points from ``prev_close`` to exactly ``close``.

    Log-price bridge: a random walk with per-step volatility ``daily_vol / sqrt(n_steps)``
    pinned at both ends. Point 0 is the previous close (the open, as the desk
    models no overnight gap inside the session) and point ``n_steps`` is the close.
    """
    if n_steps < 1:
        raise ValueError("n_steps must be at least 1")
    if prev_close <= 0 or close <= 0:
        raise ValueError("prices must be positive")
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal(n_steps) * (max(daily_vol, 0.0) / math.sqrt(n_steps))
    walk = np.concatenate(([0.0], np.cumsum(steps)))
    t = np.linspace(0.0, 1.0, n_steps + 1)
    log0, log1 = math.log(prev_close), math.log(close)
    log_path = log0 + (walk - t * walk[-1]) + t * (log1 - log0)
    path = np.exp(log_path)
    # exp(log(x)) can be off by an ulp; the ends are the data, so pin them exactly.
    path[0] = prev_close
    path[-1] = close
    return path


def trailing_daily_vol(closes, window: int = VOL_WINDOW, default: float = DEFAULT_VOL) -> float:
    """The standard deviation of the last ``window`` daily log returns of ``closes`` (oldest first, all known
    before the session); ``default`` with fewer than two returns or a volatility that is not positive."""
    history = np.asarray(closes, dtype=float)
    if len(history) <= 2:
        return default
    r = np.diff(np.log(history[-(window + 1):]))
    vol = float(np.std(r, ddof=1))
    return vol if math.isfinite(vol) and vol > 0 else default


def path_seed(symbol: str, day: date, desk_seed: int = 0) -> int:
    """A stable 63-bit seed for one instrument's path on one session."""
    digest = hashlib.blake2b(f"{symbol}|{day.isoformat()}|{desk_seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def interval_vwap(prices: np.ndarray, volumes: np.ndarray) -> float:
    """Volume-weighted average of ``prices`` (NaN when no volume traded)."""
    total = float(np.sum(volumes))
    return float(np.dot(prices, volumes) / total) if total > 0 else math.nan


# ---------------------------------------------------------------------------
# One replayed session as a market source for the paper exchange


@dataclass(frozen=True, slots=True)
class InstrumentDay:
    """What the data say about one instrument for one session."""

    prev_close: float
    close: float
    adv: float  # average daily volume, shares
    daily_vol: float  # standard deviation of daily returns


@dataclass(frozen=True, slots=True)
class InstrumentState:
    """One instrument at one instant: the mark, this minute's market volume, and its liquidity figures."""

    mark: float
    minute_volume: float
    adv: float
    daily_vol: float


class SessionMarket:
    """The intraday market of one session: a price path and volume per instrument, minute by minute.

    Implements the market source the paper exchange expects (``state``, ``next_tick``,
    ``is_open``). Ticks are the minute marks from the open to the close; the mark at
    an instant is the path point of the minute it falls in, so the price is constant
    within a minute and the last tick (the close) is the day's close.
    """

    def __init__(
        self,
        session_open: datetime,
        session_close: datetime,
        instruments: Mapping[str, InstrumentDay],
        *,
        desk_seed: int = 0,
        session_date: date | None = None,
    ):
        if session_open.tzinfo is None or session_close.tzinfo is None:
            raise ValueError("session bounds must be timezone-aware")
        self.session_open = session_open
        self.session_close = session_close
        self.n_minutes = max(1, round((session_close - session_open).total_seconds() / 60.0))
        self.profile = volume_profile(self.n_minutes)
        self._day = session_date or session_open.date()
        self._instruments = dict(instruments)
        self._desk_seed = desk_seed
        self._paths: dict[str, np.ndarray] = {}
        self._open_ts = session_open.timestamp()

    def path(self, symbol: str) -> np.ndarray:
        """The instrument's minute path, ``n_minutes + 1`` points, drawn once and cached."""
        p = self._paths.get(symbol)
        if p is None:
            d = self._instruments[symbol]
            p = brownian_bridge(d.prev_close, d.close, d.daily_vol, self.n_minutes, path_seed(symbol, self._day, self._desk_seed))
            self._paths[symbol] = p
        return p

    def minute_index(self, ts: datetime) -> int:
        """Minutes since the open, clipped to [0, n_minutes]."""
        i = int((ts.timestamp() - self._open_ts) // 60.0)
        return 0 if i < 0 else (self.n_minutes if i > self.n_minutes else i)

    def state(self, symbol: str, ts: datetime) -> InstrumentState:
        d = self._instruments[symbol]
        i = self.minute_index(ts)
        vol_minute = d.adv * float(self.profile[min(i, self.n_minutes - 1)])
        return InstrumentState(float(self.path(symbol)[i]), vol_minute, d.adv, d.daily_vol)

    def is_open(self, ts: datetime) -> bool:
        return self.session_open <= ts < self.session_close

    def next_tick(self, ts: datetime) -> datetime | None:
        """The first minute mark strictly after ``ts`` up to the close; None once at or past the close."""
        if ts >= self.session_close:
            return None
        if ts < self.session_open:
            return self.session_open
        k = int((ts.timestamp() - self._open_ts) // 60.0) + 1
        return min(self.session_open + timedelta(minutes=k), self.session_close)

    def vwap(self, symbol: str, start: datetime, end: datetime) -> float:
        """The market's VWAP over [start, end): path points weighted by the minute volume."""
        i0, i1 = self.minute_index(start), self.minute_index(end)
        i1 = max(i1, i0 + 1)
        i1 = min(i1, self.n_minutes)
        i0 = min(i0, i1 - 1)
        return interval_vwap(self.path(symbol)[i0:i1], self.profile[i0:i1])
