"""The markets a backtest trades in: daily bars for IMMEDIATE, a simulated session for every other algo.

- ``BarMarket`` (DESIGN.md, "Backtest fills"): decide at row t's close, fill the
  whole order at t's close (market-on-close) or t+1's (``next_close``) through
  ``BacktestEnvironment``.
- ``SessionBarMarket``: decide exactly as the bar market does, then work each
  order with its algo (TWAP, VWAP, POV: the live ``orders_app.algos``, injected
  through the orchestrator's registry) over the execution day's simulated
  intraday path -- the live desk's model (``market_app.intraday.SessionMarket``,
  DESIGN.md "Intraday prices"): per instrument a Brownian bridge from the
  previous close to the close, seeded by (symbol, day, desk seed), with the
  volatility of the last 60 daily log returns known before the session, and
  U-shaped volume scaled by its ADV. The execution day is the decision day for
  ``fill="close"`` (a same-day look-ahead, as market-on-close) or the next
  session for ``next_close``. The algo plans the whole session from the open;
  each slice fills through the same ``BacktestEnvironment`` at the path's price
  of its due minute (6 places), moved ``slippage_bps`` against the order, with
  ``commission_bps``, and is stamped with that minute.

ADV, per instrument and execution day: the mean of the ``ADV_WINDOW`` daily
volumes before the day when the run is given volumes, else the ADV given per
instrument (the desk passes ``Instrument.adv``, as live), else
``intraday.DEFAULT_ADV`` -- the run's notes say which. Same inputs, same paths,
same fills: nothing is drawn that is not seeded.

Pure: arrays in, no Django.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from desk.clock import NEW_YORK
from desk.interfaces import MarketState, VenueQuote
from desk.money import price
from market_app.intraday import DEFAULT_ADV, DEFAULT_VOL, VOL_WINDOW, InstrumentDay, SessionMarket, trailing_daily_vol
from market_app.matching.backtest import BacktestEnvironment

from .calendar import next_session, session_close, session_open
from .config import ScenarioConfig
from .ports import bar_quotes

ADV_WINDOW = 20  # sessions of daily volume in an ADV


def decimal_of(x: float) -> Decimal:
    """A close as the Decimal it reads as (``repr``: the shortest round-trip digits)."""
    return Decimal(repr(float(x)))


class BarMarket:
    """Daily bars: decide at row t's close, fill at t's close (MOC) or t+1's (``next_close``).

    Every fill of a rebalance asks for the same row's prices, quotes and market state, so
    they are built once per row (prices as Decimals, per symbol, on first use).
    """

    notes: Sequence[str] = ()  # what the run should say about its market
    timed_fills = False  # every fill is at a close: its date says when

    def __init__(self, closes: np.ndarray, dates: Sequence[date], symbols: Sequence[str], config: ScenarioConfig):
        self.px, self.dates, self.symbols = closes, list(dates), list(symbols)
        self.col = {s: j for j, s in enumerate(symbols)}
        self.row_of = {d: i for i, d in enumerate(self.dates)}
        self.shift = 1 if config.fill == "next_close" else 0
        self.label = config.fill_label
        self.row = 0
        self.environment = BacktestEnvironment(
            self._bar, commission_bps=float(config.commission_bps), slippage_bps=float(config.slippage_bps),
            fill_timing=self.label,
        )
        self._marks: dict[str, Decimal] = {}
        self._quotes = bar_quotes(lambda s: self._marks[s])
        self._ts_row: dict[datetime, int | None] = {}  # instant -> row of its New York date
        self._dec_rows: dict[int, dict[str, Decimal | None]] = {}
        self._row_quotes: dict[str, Sequence[VenueQuote]] = {}
        self._row_states: dict[str, MarketState] = {}
        self._row_close: datetime | None = None  # the entered row's close

    def _row_at(self, ts: datetime) -> int | None:
        try:
            return self._ts_row[ts]
        except KeyError:
            row = self._ts_row[ts] = self.row_of.get(ts.astimezone(NEW_YORK).date())
            return row

    def _price(self, row: int, symbol: str) -> Decimal | None:
        cached = self._dec_rows.get(row)
        if cached is None:
            if len(self._dec_rows) > 4:
                self._dec_rows.clear()
            cached = self._dec_rows[row] = {}
        try:
            return cached[symbol]
        except KeyError:
            v = self.px[row, self.col[symbol]]
            px = cached[symbol] = None if math.isnan(v) else decimal_of(v)
            return px

    def _bar(self, symbol: str, ts: datetime):
        row = self._row_at(ts)
        if row is None or symbol not in self.col or row + self.shift >= len(self.dates):
            return None
        row += self.shift
        px = self._price(row, symbol)
        return None if px is None else (px, session_close(self.dates[row]))

    def enter(self, row: int) -> tuple[datetime, dict[str, Decimal]]:
        self.row = row
        values = self.px[row]
        self._marks = {s: decimal_of(values[j]) for j, s in enumerate(self.symbols) if not math.isnan(values[j])}
        self._row_quotes, self._row_states = {}, {}
        self._row_close = session_close(self.dates[row])
        return self._row_close, self._marks

    def quotes(self, symbol: str) -> Sequence[VenueQuote]:
        q = self._row_quotes.get(symbol)
        if q is None:
            q = self._row_quotes[symbol] = self._quotes(symbol)
        return q

    def market_state(self, symbol: str) -> MarketState:
        state = self._row_states.get(symbol)
        if state is None:
            t = self._row_close
            state = self._row_states[symbol] = MarketState(
                now=t, session_open=t, session_close=t, mark=self._marks[symbol]
            )
        return state

    def bar_price(self, symbol: str, ts: datetime) -> Decimal | None:
        row = self._row_at(ts)
        return None if row is None else self._price(row, symbol)

    def fill_date(self, ts: datetime) -> date:
        row = self._row_at(ts)
        return self.dates[row] if row is not None else ts.astimezone(NEW_YORK).date()


def session_fill_label(config: ScenarioConfig) -> str:
    """The ``fill_timing`` of a run worked by ``config.algo`` over simulated sessions."""
    slip = f", moved {format(config.slippage_bps.normalize(), 'f')} bps against the order" if config.slippage_bps else ""
    how = (f"each slice at the path's price of its due minute{slip} (seeded Brownian bridge from the previous close "
           "to the close, U-shaped volume: the live desk's model)")
    if config.fill == "next_close":
        return f"{config.algo} over the next session's simulated intraday path: {how}"
    return (f"{config.algo} over the decision day's simulated intraday path: {how}; decided on that day's close "
            "(a same-day look-ahead)")


class SessionBarMarket(BarMarket):
    """Decide on the bars like ``BarMarket``; work the orders over the execution day's simulated session."""

    timed_fills = True

    def __init__(
        self,
        closes: np.ndarray,
        dates: Sequence[date],
        symbols: Sequence[str],
        config: ScenarioConfig,
        *,
        adv: Mapping[str, float] | None = None,
        volumes: pd.DataFrame | None = None,
        adv_source: str = "the ADV given per instrument",
        desk_seed: int = 0,
    ):
        super().__init__(closes, dates, symbols, config)
        self.label = session_fill_label(config)
        self.environment = BacktestEnvironment(
            self._path_fill, commission_bps=float(config.commission_bps), slippage_bps=float(config.slippage_bps),
            fill_timing=self.label,
        )
        self.desk_seed = int(desk_seed)
        self._adv = {s: float(v) for s, v in (adv or {}).items() if v is not None and float(v) > 0}
        self._volumes = None
        if volumes is not None:
            frame = pd.DataFrame(volumes).copy()
            frame.index = pd.DatetimeIndex(frame.index).normalize()
            self._volumes = frame.reindex(index=pd.DatetimeIndex(self.dates), columns=self.symbols).to_numpy(float)
        self._adv_source = adv_source
        self._fallbacks: set[str] = set()
        self.session: SessionMarket | None = None
        self._days: dict[str, InstrumentDay] = {}
        self._profile: tuple[float, ...] = ()
        self._px_at: dict[tuple[str, datetime], Decimal | None] = {}  # the environment and the book both ask

    # -- the session of a rebalance

    def enter(self, row: int) -> tuple[datetime, dict[str, Decimal]]:
        as_of, marks = super().enter(row)
        e = row + self.shift
        if e < len(self.dates):
            day = self.dates[e]
            self._days = {s: d for j, s in enumerate(self.symbols) if (d := self._instrument_day(e, j)) is not None}
        else:  # past the data: the algo still plans, and every slice is refused for want of a price (as IMMEDIATE's)
            day, self._days = next_session(self.dates[row]), {}
        self._px_at = {}
        self.session = SessionMarket(session_open(day), session_close(day), self._days, desk_seed=self.desk_seed,
                                     session_date=day)
        if len(self._profile) != self.session.n_minutes:
            self._profile = tuple(float(x) for x in self.session.profile)
        return as_of, marks

    def _instrument_day(self, e: int, j: int) -> InstrumentDay | None:
        close = self.px[e, j]
        prev = self.px[e - 1, j] if e > 0 else close
        if not (prev > 0 and close > 0):
            return None
        history = self.px[max(0, e - VOL_WINDOW - 1) : e, j]
        history = history[np.isfinite(history) & (history > 0)]
        return InstrumentDay(float(prev), float(close), self._adv_on(e, j), trailing_daily_vol(history))

    def _adv_on(self, e: int, j: int) -> float:
        """Shares a day, known before session ``e``: the trailing volumes, else the given ADV, else the default."""
        symbol = self.symbols[j]
        if self._volumes is not None:
            window = self._volumes[max(0, e - ADV_WINDOW) : e, j]
            window = window[np.isfinite(window) & (window > 0)]
            if len(window):
                return float(window.mean())
        adv = self._adv.get(symbol)
        if adv is None:
            self._fallbacks.add(symbol)
            return DEFAULT_ADV
        return adv

    # -- what the algo, the environment and the book read

    def market_state(self, symbol: str) -> MarketState:
        s = self.session
        d = self._days.get(symbol)
        mark = price(s.state(symbol, s.session_open).mark) if d else self._marks.get(symbol, Decimal(0))
        return MarketState(
            now=s.session_open, session_open=s.session_open, session_close=s.session_close, mark=mark,
            volume_profile=self._profile, adv=d.adv if d else self._adv.get(symbol, DEFAULT_ADV),
            daily_vol=d.daily_vol if d else DEFAULT_VOL,
        )

    def _path_price(self, symbol: str, ts: datetime) -> Decimal | None:
        key = (symbol, ts)
        try:
            return self._px_at[key]
        except KeyError:
            pass
        s = self.session
        if s is None or symbol not in self._days or not s.session_open <= ts <= s.session_close:
            px = None
        else:  # the mark of the minute ``ts`` falls in, as ``SessionMarket.state`` gives it
            px = price(float(s.path(symbol)[s.minute_index(ts)]))
        self._px_at[key] = px
        return px

    def _path_fill(self, symbol: str, ts: datetime) -> tuple[Decimal, datetime] | None:
        px = self._path_price(symbol, ts)
        return None if px is None else (px, ts)

    def bar_price(self, symbol: str, ts: datetime) -> Decimal | None:
        """The path's price of the fill's minute: what the fill paid beyond it is its slippage."""
        px = self._path_price(symbol, ts)
        return px if px is not None else super().bar_price(symbol, ts)

    @property
    def notes(self) -> list[str]:  # type: ignore[override]
        fallback = f"{DEFAULT_ADV:,.0f} shares a day assumed (the live desk's default)"
        if self._volumes is not None:
            note = f"ADV: the mean of the {ADV_WINDOW} daily volumes before each execution day (trailing {ADV_WINDOW} sessions)"
        elif self._adv:
            note = f"ADV: {self._adv_source}"
        else:
            return [f"ADV: the data have no daily volumes and no ADV was given: {fallback}; POV's participation is "
                    "scaled by it"]
        missing = sorted(self._fallbacks)
        if missing:
            note += f"; none for {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}: {fallback}"
        return [note]
