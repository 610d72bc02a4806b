"""The replayed intraday market of one session, built from the stored daily closes, and the
desk's one mark rule (``marks_at``).

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

import bisect
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings

from desk.clock import NEW_YORK, session_table
from desk.errors import DomainError
from desk.interfaces import MarketState
from market_app.intraday import DEFAULT_ADV, VOL_WINDOW, InstrumentDay, SessionMarket, trailing_daily_vol

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
    vol = trailing_daily_vol(history)
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


class MissingMark(DomainError):
    """No price at or before the market time for some instruments: the book cannot be valued."""

    code, status = "missing_mark", 409

    def __init__(self, symbols, market_time: datetime):
        self.symbols = tuple(sorted(symbols))
        self.market_time = market_time
        at = market_time.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")
        names = ", ".join(self.symbols)
        super().__init__(f"No price at or before {at} for {names}: cannot value it without a mark.")


def last_close_day(t: datetime) -> date | None:
    """The latest session whose close is at or before ``t`` (None before the calendar)."""
    table = session_table()
    i = bisect.bisect_right(table.closes, t) - 1
    return table.dates[i] if i >= 0 else None


def marks_found(symbols, market_time: datetime) -> tuple[dict[str, Decimal], list[str]]:
    """The mark rule (DESIGN.md, "Intraday prices"): the marks found and the symbols without one.

    In session, the intraday path's price at ``market_time``; outside it, the last close of a
    session closed at or before ``market_time`` (before 16:00 on a session day: the previous
    session's close, never that day's). A symbol is missing when it has no price at or before
    ``market_time``. Callers that value a book want ``marks_at``, which refuses a missing mark.
    """
    from desk.money import price
    from market_app.models import Instrument
    from market_app.selectors import latest_closes

    symbols = list(dict.fromkeys(symbols))
    if not symbols:
        return {}, []
    table = session_table()
    i = table.last_opened(market_time)
    if i >= 0 and market_time < table.closes[i]:
        session = Session(table.dates[i], table.opens[i], table.closes[i])
        days = {}
        for s in symbols:
            try:
                days[s] = instrument_day(s, session.day)
            except LookupError:
                continue
        market = SessionMarket(session.open, session.close, days,
                               desk_seed=int(getattr(settings, "DESK_MARKET_SEED", 0)), session_date=session.day)
        found = {s: price(market.state(s, market_time).mark) for s in days}
    else:
        day = last_close_day(market_time)
        ids = dict(Instrument.objects.filter(symbol__in=symbols).values_list("id", "symbol")) if day else {}
        found = {ids[iid]: close for iid, close in latest_closes(ids, day).items()} if ids else {}
    return found, [s for s in symbols if s not in found]


def marks_at(symbols, market_time: datetime) -> dict[str, Decimal]:
    """The mark of every symbol at ``market_time``; raises ``MissingMark`` naming each one without."""
    found, missing = marks_found(symbols, market_time)
    if missing:
        raise MissingMark(missing, market_time)
    return found
