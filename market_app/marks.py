"""The replayed intraday market of one session, built from the stored daily closes.

``session_market(day, symbols)`` gives the ``intraday.SessionMarket`` that the
algos (``MarketState``), the paper exchange and TCA (interval VWAP) all read, so
every process draws the same path for the same session (DESIGN.md, "Intraday
prices"). Per instrument and session: the previous close and the close from
``PriceBar`` (past the end of the data the session replays flat at the last
close), the ADV from ``Instrument.adv`` and the daily volatility of the last
``VOL_WINDOW`` returns.

The per-process cache holds only derived, immutable history (closes do not
change once stored), never state other processes need to see.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
from django.conf import settings

from desk.clock import session_table
from desk.interfaces import MarketState
from market_app.intraday import InstrumentDay, SessionMarket

VOL_WINDOW = 60
DEFAULT_ADV = 1_000_000.0
DEFAULT_VOL = 0.02
_CACHE_TTL_S = 300.0
_cache: dict[tuple[str, date], tuple[float, InstrumentDay]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Session:
    """The session an instant belongs to: the one open at ``t``, else the next one to open."""

    day: date
    open: datetime
    close: datetime


def session_at(t: datetime) -> Session:
    table = session_table()
    i = table.last_opened(t)
    if i < 0 or t >= table.closes[i]:
        i += 1
    i = min(i, len(table.dates) - 1)
    return Session(table.dates[i], table.opens[i], table.closes[i])


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _instrument_day(symbol: str, day: date) -> InstrumentDay:
    from market_app.models import Instrument, PriceBar

    inst = Instrument.objects.filter(symbol=symbol).values("id", "adv").first()
    if inst is None:
        raise LookupError(f"unknown instrument {symbol!r}")
    closes = list(
        PriceBar.objects.filter(instrument_id=inst["id"], date__lte=day)
        .order_by("-date")
        .values_list("date", "close")[: VOL_WINDOW + 2]
    )
    if not closes:
        raise LookupError(f"{symbol} has no close on or before {day.isoformat()}")
    closes.reverse()
    if closes[-1][0] == day and len(closes) > 1:
        prev_close, close = float(closes[-2][1]), float(closes[-1][1])
        history = [float(c) for _, c in closes[:-1]]
    else:  # no bar for the session (past the data): replay it flat at the last close
        prev_close = close = float(closes[-1][1])
        history = [float(c) for _, c in closes]
    vol = DEFAULT_VOL
    if len(history) > 2:
        r = np.diff(np.log(np.asarray(history[-(VOL_WINDOW + 1):])))
        vol = float(np.std(r, ddof=1)) if len(r) > 1 else DEFAULT_VOL
        if not math.isfinite(vol) or vol <= 0:
            vol = DEFAULT_VOL
    adv = float(inst["adv"] or 0) or DEFAULT_ADV
    return InstrumentDay(prev_close=prev_close, close=close, adv=adv, daily_vol=vol)


def instrument_day(symbol: str, day: date) -> InstrumentDay:
    key = (symbol, day)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < _CACHE_TTL_S:
            return hit[1]
    value = _instrument_day(symbol, day)
    with _cache_lock:
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = (now, value)
    return value


def session_market(session: Session, symbols) -> SessionMarket:
    return SessionMarket(
        session.open,
        session.close,
        {s: instrument_day(s, session.day) for s in symbols},
        desk_seed=int(getattr(settings, "DESK_MARKET_SEED", 0)),
        session_date=session.day,
    )


def market_state(market: SessionMarket, symbol: str, now: datetime) -> MarketState:
    """What an algo may know when it plans at ``now`` (moved to the open if before it)."""
    t = max(now, market.session_open)
    st = market.state(symbol, t)
    return MarketState(
        now=t,
        session_open=market.session_open,
        session_close=market.session_close,
        mark=Decimal(repr(st.mark)),
        volume_profile=tuple(float(x) for x in market.profile),
        adv=st.adv,
        daily_vol=st.daily_vol,
    )


def mark(symbol: str, t: datetime) -> Decimal:
    """The mark of ``symbol`` at market time ``t`` (the path point of its minute), 6 places."""
    from desk.money import price

    session = session_at(t)
    market = session_market(session, [symbol])
    return price(market.state(symbol, max(t, session.open)).mark)
