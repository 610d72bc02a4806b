"""The paper scenario: the same loop and orchestrator, trading on the paper exchange on a stepped clock.

Per rebalance day the clock is stepped to the decision time (default 15:30 New
York, or 30 minutes before an early close); the day's intraday market is the
desk's replay (``intraday.SessionMarket``: a seeded Brownian bridge from the
previous close to the close, U-shaped volume, the volatility of the last 60
returns); trades are sized at the marks of that minute; the paper exchange
fills them at touch plus square-root impact, up to each venue's displayed size
per minute, the rest on later ticks, unfilled at the close expires (DESIGN.md,
"Fills (paper exchange)"). Equity is valued at the closes, like the backtest's,
so the two curves differ only by what the market did to the orders.

Pure: no Django; venues, ADVs and the seed are handed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from desk.clock import NEW_YORK, SteppedClock
from market_app.matching.paper import PaperExchange, PaperVenue
from desk.interfaces import MarketState, VenueQuote
from market_app.intraday import InstrumentDay, SessionMarket
from desk.money import price

from .calendar import session_close, session_open
from .config import ScenarioConfig
from .runner import ScenarioResult, run_scenario

DEFAULT_DECISION_BEFORE_CLOSE = timedelta(minutes=30)
VOL_WINDOW = 60
DEFAULT_ADV = 1_000_000.0
DEFAULT_VOL = 0.02


def demo_venues() -> list[PaperVenue]:
    """The demo's three venues (``ops_app.demo.VENUES``) as paper venues, without the ORM."""
    return [
        PaperVenue("LIT-A", half_spread_bps=1.0, maker_fee_bps=0.20, taker_fee_bps=0.30, min_fee=Decimal("0.35"),
                   latency_ms=0.8, impact_k=0.10, displayed_share=0.10),
        PaperVenue("LIT-B", half_spread_bps=1.5, maker_fee_bps=0.10, taker_fee_bps=0.25, min_fee=Decimal("0.25"),
                   latency_ms=2.0, impact_k=0.12, displayed_share=0.06),
        PaperVenue("DARK-X", half_spread_bps=0.0, maker_fee_bps=0.0, taker_fee_bps=0.10, min_fee=Decimal("1.00"),
                   latency_ms=5.0, impact_k=0.05, displayed_share=0.03),
    ]


class PaperMarket:
    """A ``ScenarioMarket`` on the paper exchange: one ``SessionMarket`` per rebalance day."""

    label = "paper exchange: touch + square-root impact, displayed size per minute, venue fees"
    notes: Sequence[str] = ()
    timed_fills = False

    def __init__(
        self,
        closes: np.ndarray,
        dates: Sequence[date],
        symbols: Sequence[str],
        *,
        venues: Iterable[PaperVenue],
        adv: Mapping[str, float] | None = None,
        before_close: timedelta = DEFAULT_DECISION_BEFORE_CLOSE,
        desk_seed: int = 0,
    ):
        self.px, self.dates, self.symbols = closes, list(dates), list(symbols)
        self.adv = dict(adv or {})
        self.before_close = before_close
        self.desk_seed = desk_seed
        rets = pd.DataFrame(closes).pct_change(fill_method=None)
        self.vol = rets.rolling(VOL_WINDOW, min_periods=5).std().shift(0).to_numpy()
        self.clock = SteppedClock(self.dates[0])
        self.session: SessionMarket | None = None
        self.decision: datetime | None = None
        self.environment = PaperExchange(list(venues), market=None, clock=self.clock.market_now)  # type: ignore[arg-type]

    def enter(self, row: int) -> tuple[datetime, dict[str, Decimal]]:
        day = self.dates[row]
        opens, closes = session_open(day), session_close(day)
        decision = max(opens, closes - self.before_close)
        self.clock.set_market_time(decision)
        instruments = {}
        for j, s in enumerate(self.symbols):
            prev = self.px[row - 1, j] if row > 0 else self.px[row, j]
            close = self.px[row, j]
            if not (prev > 0 and close > 0):
                continue
            vol = self.vol[row - 1, j] if row > 0 else np.nan  # known before the day's close
            instruments[s] = InstrumentDay(float(prev), float(close), float(self.adv.get(s, DEFAULT_ADV)),
                                           float(vol) if vol == vol and vol > 0 else DEFAULT_VOL)
        self.session = SessionMarket(opens, closes, instruments, desk_seed=self.desk_seed, session_date=day)
        self.environment.market = self.session
        self.decision = decision
        marks = {s: price(self.session.state(s, decision).mark) for s in instruments}
        return decision, marks

    def quotes(self, symbol: str) -> Sequence[VenueQuote]:
        return self.environment.quotes(symbol)

    def market_state(self, symbol: str) -> MarketState:
        s = self.session
        st = s.state(symbol, self.decision)
        return MarketState(
            now=self.decision, session_open=s.session_open, session_close=s.session_close,
            mark=price(st.mark), volume_profile=tuple(float(x) for x in s.profile), adv=st.adv, daily_vol=st.daily_vol,
        )

    def bar_price(self, symbol: str, ts: datetime) -> Decimal | None:
        """The mark of the fill's minute: what the fill paid beyond it is its spread and impact."""
        return price(self.session.state(symbol, ts).mark) if self.session else None

    def fill_date(self, ts: datetime) -> date:
        return ts.astimezone(NEW_YORK).date()


def run_paper(
    closes: pd.DataFrame,
    config: ScenarioConfig,
    *,
    venues: Iterable[PaperVenue] | None = None,
    adv: Mapping[str, float] | None = None,
    before_close: timedelta = DEFAULT_DECISION_BEFORE_CLOSE,
    desk_seed: int = 0,
    **kwargs: Any,
) -> ScenarioResult:
    """The scenario of ``config`` on the paper exchange (stepped clock); same keywords as ``run_scenario``."""
    venues = list(venues) if venues is not None else demo_venues()

    def factory(px, dates, symbols):
        return PaperMarket(px, dates, symbols, venues=venues, adv=adv, before_close=before_close, desk_seed=desk_seed)

    return run_scenario(closes, config, factory, kind="paper", **kwargs)
