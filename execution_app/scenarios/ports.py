"""Array-backed ports for scenario runs: the same orchestrator, fed from memory instead of the ORM.

- ``PointInTimeSignalSource``: the computed agents' ``generate`` on the closes
  known at ``as_of`` (the frame is cut at the as_of row *before* the agent sees
  it, and ``generate`` cuts again), so a signal at day t uses data <= t.
- ``PassThroughSizer``: the optimiser's weights unchanged (a run sizes with
  ``VolTargetSizer`` only when its params ask for it).
- ``BookGateway``: the run's orders, fills and book -- positions at average cost
  through ``portfolio_app.accounting.apply_fill``, cash to the cent -- never the
  live Order/Fill/Position tables.
- ``bar_quotes``: one venue quoting the bar's close on both sides with unlimited
  size and no fee, so the smart order router sends the whole slice there and
  the backtest environment decides the fill (close, slippage, commission).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from desk.interfaces import FillReport, OrderGateway, OrderIntent, PortfolioSnapshot, PositionSnapshot, RiskVerdict, SignalRecord, SignalSource, Sizer, TargetWeights, VenueQuote
from desk.money import cash as to_cash
from portfolio_app.accounting import apply_fill

ZERO = Decimal(0)
BAR_VENUE = "BAR"
_UNLIMITED = Decimal(10) ** 12


# ---------------------------------------------------------------------------
# Signals


@dataclass(frozen=True)
class AgentSpec:
    """One computed agent in a run: its type (an ``AgentType`` instance), config and weight."""

    name: str
    agent_type: Any
    config: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0


class PointInTimeSignalSource(SignalSource):
    """Signals at ``as_of`` from the closes dated on or before it (``history_rows`` of them at most)."""

    def __init__(self, closes: pd.DataFrame, agents: Sequence[AgentSpec], *, history_rows: int = 400):
        self.closes = closes
        self.agents = tuple(agents)
        self.history_rows = int(history_rows)
        self._dates = pd.DatetimeIndex(closes.index)

    def known_rows(self, as_of: datetime) -> int:
        """How many leading rows of the frame are known at ``as_of``."""
        from signals_app.agents.base import _last_known_session

        day = _last_known_session(as_of)
        return int(self._dates.searchsorted(pd.Timestamp(day), side="right"))

    def signals(self, as_of: datetime) -> Sequence[SignalRecord]:
        if not self.agents:
            return []
        n = self.known_rows(as_of)
        window = self.closes.iloc[max(0, n - self.history_rows) : n]
        out: list[SignalRecord] = []
        for a in self.agents:
            out.extend(a.agent_type.generate(window, as_of, a.config, agent=a.name, agent_weight=a.weight))
        return out


class PassThroughSizer(Sizer):
    def size(self, target: TargetWeights, *, prices: Any, snapshot: PortfolioSnapshot) -> TargetWeights:
        return target


# ---------------------------------------------------------------------------
# The book


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One fill of a run, as stored in ``ScenarioTrade`` (money to the cent, price 6 places)."""

    date: date
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    commission: Decimal
    slippage: Decimal  # |fill price - bar price| x qty: what slippage cost, in USD
    reference_price: Decimal | None  # the price the trade was decided at
    weight_after: float | None  # the target weight the trade aimed at
    order_id: str
    ts: datetime | None = None
    venue: str = ""

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(), "symbol": self.symbol, "side": self.side, "qty": str(self.qty),
            "price": str(self.price), "commission": str(self.commission), "slippage": str(self.slippage),
            "reference_price": None if self.reference_price is None else str(self.reference_price),
            "weight_after": self.weight_after, "order_id": self.order_id, "venue": self.venue,
        }


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order_id: str
    symbol: str
    side: str
    quantity: Decimal
    reference_price: Decimal | None
    passed: bool
    reasons: tuple[str, ...]
    ts: datetime | None


class BookGateway(OrderGateway):
    """Orders, fills and the book of one run, in memory.

    ``bar_price(symbol, ts)`` gives the unslipped price of the bar a fill was made
    on (to split the slippage cost out of the fill price); ``fill_date(ts)`` the
    session date of a fill.
    """

    def __init__(
        self,
        capital: Decimal,
        *,
        bar_price: Callable[[str, datetime], Decimal | None] | None = None,
        fill_date: Callable[[datetime], date] | None = None,
    ):
        self.cash = to_cash(capital)
        self.qty: dict[str, Decimal] = {}
        self.avg_cost: dict[str, Decimal] = {}
        self.realised = ZERO
        self.orders: list[OrderRecord] = []
        self.trades: list[TradeRecord] = []
        self.bar_price = bar_price
        self.fill_date = fill_date or (lambda ts: ts.date())
        self.weights: dict[str, float] = {}  # symbol -> target weight of the current cycle
        self._intents: dict[str, OrderIntent] = {}
        self._n = 0

    # -- OrderGateway

    def record_order(self, intent: OrderIntent, verdict: RiskVerdict) -> str:
        self._n += 1
        coid = intent.client_order_id or f"O{self._n}-{intent.symbol}"
        self._intents[coid] = intent
        self.orders.append(
            OrderRecord(coid, intent.symbol, intent.side.value, intent.quantity, intent.reference_price,
                        verdict.passed, tuple(verdict.reasons), intent.ts)
        )
        return coid

    def record_fill(self, fill: FillReport) -> None:
        parent = self._intents.get(fill.client_order_id.rsplit("-", 2)[0]) or self._intents.get(fill.client_order_id)
        sym = fill.symbol
        change = apply_fill(
            quantity=self.qty.get(sym, ZERO),
            avg_cost=self.avg_cost.get(sym, ZERO),
            signed_qty=fill.last_qty * fill.side.sign,
            px=fill.last_px,
            commission=fill.commission,
        )
        self.cash += change.cash_delta
        self.realised += change.realised
        if change.quantity:
            self.qty[sym], self.avg_cost[sym] = change.quantity, change.avg_cost
        else:
            self.qty.pop(sym, None)
            self.avg_cost.pop(sym, None)
        bar = self.bar_price(sym, fill.ts_event) if self.bar_price else None
        slip = to_cash(abs(fill.last_px - bar) * fill.last_qty) if bar is not None else ZERO
        self.trades.append(
            TradeRecord(
                date=self.fill_date(fill.ts_event), symbol=sym, side=fill.side.value, qty=fill.last_qty,
                price=fill.last_px, commission=fill.commission, slippage=slip,
                reference_price=parent.reference_price if parent else None,
                weight_after=self.weights.get(sym), order_id=parent.client_order_id if parent else fill.client_order_id,
                ts=fill.ts_event, venue=fill.venue,
            )
        )

    # -- reads

    def snapshot(self, marks: Mapping[str, Decimal], *, as_of: datetime, peak_nav: Decimal | None,
                 portfolio_id: int = 0, name: str = "", sectors: Mapping[str, str] | None = None) -> PortfolioSnapshot:
        sectors = sectors or {}
        positions = {
            s: PositionSnapshot(s, q, self.avg_cost[s], marks.get(s) or self.avg_cost[s], sectors.get(s, ""))
            for s, q in self.qty.items()
        }
        return PortfolioSnapshot(
            portfolio_id=portfolio_id, cash=self.cash, positions=positions, peak_nav=peak_nav, as_of=as_of, name=name,
        )

    def nav(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.cash + sum((q * marks.get(s, self.avg_cost[s]) for s, q in self.qty.items()), ZERO)


def bar_quotes(price_of: Callable[[str], Decimal]) -> Callable[[str], list[VenueQuote]]:
    """The router's view of a bar: one flat venue at the close, all the size there is, no fee, no impact."""

    def quotes(symbol: str) -> list[VenueQuote]:
        px = price_of(symbol)
        return [VenueQuote(BAR_VENUE, px, px, _UNLIMITED, 0.0, 0.0, 0.0, 0.0)]

    return quotes
