"""The desk's domain contract: the shapes every stage plugs into.

Plain Python only -- no Django, no Celery, no I/O -- so that a backtest runs the
same risk, optimisation, algo and routing code as live trading (DESIGN.md,
"Layers"). Implementations are chosen by settings (``DESK_PORTS``) and handed
to the orchestrator; nothing in a core module imports another stage by name.

Conventions: money and quantities are ``Decimal`` (see ``desk.money``
for the rounding rules); weights, scores and statistics are ``float``;
datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from desk.errors import DomainError

# ---------------------------------------------------------------------------
# Vocabulary


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(str, enum.Enum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class OrderStatus(str, enum.Enum):
    """NautilusTrader's order statuses (DESIGN.md, "State machines")."""

    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class ProposalStatus(str, enum.Enum):
    DRAFT = "DRAFT"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    STALE = "STALE"
    FAILED = "FAILED"
    SHADOW = "SHADOW"


class TradingState(str, enum.Enum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class LiquiditySide(str, enum.Enum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class ConfigError(DomainError, ValueError):
    """An invalid configuration; ``field`` names what is wrong so a person can fix it."""

    code, status = "invalid", 400

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}", field_errors={field: reason})
        self.field = field
        self.reason = reason


# ---------------------------------------------------------------------------
# The seed's interfaces


class AgentConfig(abc.ABC):
    """An agent type's configuration. ``validate`` returns True or raises ``ConfigError``."""

    @abc.abstractmethod
    def validate(self) -> bool: ...


class Clock(abc.ABC):
    """The desk's one definition of market time (DESIGN.md, "The market clock").

    ``now()`` is wall time (UTC), used for audit stamps and wall-clock limits;
    ``market_now()`` is the market's time, which a replay clock maps from wall time.
    Nothing else in the desk calls ``now()`` for market time.
    """

    @abc.abstractmethod
    def now(self) -> datetime: ...

    @abc.abstractmethod
    def market_now(self) -> datetime: ...

    def market_date(self) -> date:
        from zoneinfo import ZoneInfo

        return self.market_now().astimezone(ZoneInfo("America/New_York")).date()


@dataclass(frozen=True, slots=True)
class FillReport:
    """An ``OrderFilled`` event as a venue reports it (nautilus field names)."""

    trade_id: str
    client_order_id: str
    venue: str
    symbol: str
    side: Side
    last_qty: Decimal
    last_px: Decimal
    commission: Decimal
    liquidity_side: LiquiditySide
    ts_event: datetime


@dataclass(frozen=True, slots=True)
class TradeResult:
    """What an environment did with an order: its resulting status, the fills so far, and why."""

    client_order_id: str
    status: OrderStatus
    fills: tuple[FillReport, ...] = ()
    reason: str = ""
    refused: str = ""  # a cancel or replace the venue refused, and why; the order stays as ``status`` says
    ts: datetime | None = None  # market time the venue acted (a cancel's or replace's confirmation)

    @property
    def filled_qty(self) -> Decimal:
        return sum((f.last_qty for f in self.fills), Decimal(0))


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order someone wants to place, before risk has seen it."""

    portfolio_id: int
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reference_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: str = ""
    agent_id: int | None = None
    sector: str = ""
    ts: datetime | None = None

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity * self.side.sign


@dataclass(frozen=True, slots=True)
class ExecutionOrder:
    """An order handed to an environment: a child slice (or an IMMEDIATE parent) on one venue."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    venue: str
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    ts: datetime | None = None
    risk_stamp: str = ""  # the pre-trade gate's seal on exactly this order (``desk.riskstamp``); venue clients refuse without it


class ExecutionEnvironment(abc.ABC):
    """Where orders meet a market: backtest, paper exchange, or a live broker adapter.

    ``execute_trade`` is the seed's one-shot form: the order is worked until it is
    terminal for this call (filled, rejected, or, for IOC, cancelled) and the fills
    are returned. Venues that fill over time implement ``submit`` and report fills
    through ``on_fill`` as they happen; ``cancel`` asks for the rest to stop.
    """

    name: str = "environment"

    @abc.abstractmethod
    def execute_trade(self, order: ExecutionOrder) -> TradeResult: ...

    def submit(self, order: ExecutionOrder, on_fill: Callable[[FillReport], None]) -> TradeResult:
        result = self.execute_trade(order)
        for fill in result.fills:
            on_fill(fill)
        return result

    def cancel(self, client_order_id: str) -> TradeResult:
        return TradeResult(client_order_id=client_order_id, status=OrderStatus.CANCELED)

    def cancel_many(self, client_order_ids: Sequence[str]) -> dict[str, TradeResult]:
        """``cancel`` of each order, by client order id (a kill switch's cancels); a venue that can stop many
        orders in one go (one read and one write of its book) overrides it. Same answers as ``cancel``."""
        return {cid: self.cancel(cid) for cid in client_order_ids}


# ---------------------------------------------------------------------------
# Data passed between stages


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """One agent's opinion on one instrument: ``score`` in [-1, 1], ``confidence`` in [0, 1]."""

    agent: str
    symbol: str
    score: float
    confidence: float
    generated_at: datetime
    horizon_days: float = 1.0
    agent_weight: float = 1.0
    client_signal_id: str = ""


@dataclass(frozen=True, slots=True)
class View:
    """The desk's aggregated opinion on one instrument, with each agent's share of it."""

    symbol: str
    score: float
    confidence: float
    contributions: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetWeights:
    """An optimiser's (or sizer's) answer: weights by symbol (cash is 1 - sum for long-only)."""

    weights: Mapping[str, float]
    strategy: str = ""
    expected_return: float | None = None
    volatility: float | None = None
    sharpe: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    symbol: str
    quantity: Decimal
    avg_cost: Decimal
    mark: Decimal
    sector: str = ""

    @property
    def market_value(self) -> Decimal:
        return self.quantity * self.mark


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """Everything a pre-trade check may read about a portfolio, taken at one instant."""

    portfolio_id: int
    cash: Decimal
    positions: Mapping[str, PositionSnapshot]
    open_orders: tuple[OrderIntent, ...] = ()
    pnl_today: Decimal = Decimal(0)
    peak_nav: Decimal | None = None
    recent_order_times: tuple[datetime, ...] = ()
    recent_orders: tuple[OrderIntent, ...] = ()
    trading_state: TradingState = TradingState.ACTIVE
    long_short: bool = False
    name: str = ""
    as_of: datetime | None = None

    @property
    def nav(self) -> Decimal:
        return self.cash + sum((p.market_value for p in self.positions.values()), Decimal(0))

    def weights(self) -> dict[str, float]:
        nav = self.nav
        if nav <= 0:
            return {s: 0.0 for s in self.positions}
        return {s: float(p.market_value / nav) for s, p in self.positions.items()}


@dataclass(frozen=True, slots=True)
class LimitBreach:
    """One limit an intent would breach, with the sentence a person reads."""

    limit_id: int | None
    name: str
    kind: str
    action: str  # "block" or "warn"
    threshold: float
    value: float
    reason: str


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """Pass, or deny with every breached limit (pre-trade checks, STYLE.md rule 6)."""

    passed: bool
    breaches: tuple[LimitBreach, ...] = ()
    utilisation: Mapping[str, float] = field(default_factory=dict)
    stamp: str = ""  # a slice check's seal for the venue client (``desk.riskstamp``); "" when not issued
    # What the order holds back from its portfolio's buying power while it is open, if it goes
    # ahead (cash, or margin, with the dearest fee; ``portfolio_app.account``); None: not assessed.
    reservation: Decimal | None = None

    @property
    def reasons(self) -> list[str]:
        return [b.reason for b in self.breaches if b.action == "block"]

    @property
    def warnings(self) -> list[str]:
        return [b.reason for b in self.breaches if b.action == "warn"]

    @classmethod
    def ok(cls) -> "RiskVerdict":
        return cls(passed=True)


@dataclass(frozen=True, slots=True)
class ProposedTrade:
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    weight_before: float
    weight_after: float

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


@dataclass(frozen=True, slots=True)
class Slice:
    """A child order an algo schedules: when it is due, how much, at what limit."""

    due: datetime
    quantity: Decimal
    limit_price: Decimal | None = None
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """A venue as the router sees it at one instant."""

    venue: str
    bid: Decimal
    ask: Decimal
    displayed_qty: Decimal
    maker_fee_bps: float
    taker_fee_bps: float
    latency_ms: float
    impact_k: float
    up: bool = True


@dataclass(frozen=True, slots=True)
class RouteAllocation:
    venue: str
    quantity: Decimal
    expected_price: Decimal
    expected_cost_bps: float


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """How one slice was split across venues, and the single-venue plans it beat."""

    allocations: tuple[RouteAllocation, ...]
    expected_cost_bps: float
    alternatives: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarketState:
    """What an algo may know of the market when it plans: the session window and volume profile."""

    now: datetime
    session_open: datetime
    session_close: datetime
    mark: Decimal
    volume_profile: Sequence[float] = ()
    adv: float = 0.0
    daily_vol: float = 0.0


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """Something browsers are told about: ``type`` like ``fill.created``, a JSON-able payload."""

    type: str
    payload: Mapping[str, Any]
    groups: tuple[str, ...]


# ---------------------------------------------------------------------------
# The stage ports the orchestrator composes (DESIGN.md, "The flow of one rebalance")


class SignalSource(abc.ABC):
    @abc.abstractmethod
    def signals(self, as_of: datetime) -> Sequence[SignalRecord]:
        """Signals live at ``as_of`` (generated no later than it, not past their horizon)."""


class Aggregator(abc.ABC):
    @abc.abstractmethod
    def aggregate(self, signals: Sequence[SignalRecord], as_of: datetime) -> dict[str, View]: ...


class Optimiser(abc.ABC):
    @abc.abstractmethod
    def optimise(
        self,
        *,
        prices: Any,  # pandas.DataFrame of closes, dates x symbols, known at as_of
        views: Mapping[str, View],
        current_weights: Mapping[str, float],
        constraints: Mapping[str, Any],
    ) -> TargetWeights: ...


class Sizer(abc.ABC):
    @abc.abstractmethod
    def size(self, target: TargetWeights, *, prices: Any, snapshot: PortfolioSnapshot) -> TargetWeights: ...


class TradeBuilder(abc.ABC):
    """Current holdings + target weights -> whole-lot trades with cash never negative."""

    @abc.abstractmethod
    def trades(
        self, target: TargetWeights, *, snapshot: PortfolioSnapshot, lot_sizes: Mapping[str, Decimal]
    ) -> list[ProposedTrade]: ...


class RiskEngine(abc.ABC):
    @abc.abstractmethod
    def check(self, intent: OrderIntent, snapshot: PortfolioSnapshot) -> RiskVerdict: ...

    def check_many(self, intents: Sequence[OrderIntent], snapshot: PortfolioSnapshot) -> list[RiskVerdict]:
        return [self.check(i, snapshot) for i in intents]


class ExecutionAlgo(abc.ABC):
    name: str = "IMMEDIATE"
    tuning: tuple[str, ...] = ()  # the params of its own (beyond the common window, lot size and limit)

    @abc.abstractmethod
    def schedule(self, intent: OrderIntent, market: MarketState, params: Mapping[str, Any]) -> list[Slice]: ...


class Router(abc.ABC):
    @abc.abstractmethod
    def route(self, side: Side, quantity: Decimal, quotes: Sequence[VenueQuote]) -> RouteDecision: ...


class EventSink(abc.ABC):
    @abc.abstractmethod
    def publish(self, event: DeskEvent) -> None: ...


class OrderGateway(abc.ABC):
    """Where the orchestrator records orders and fills (the ORM live, arrays in a backtest)."""

    @abc.abstractmethod
    def record_order(self, intent: OrderIntent, verdict: RiskVerdict) -> str:
        """Persist the order (SUBMITTED or DENIED) and return its client order id."""

    @abc.abstractmethod
    def record_fill(self, fill: FillReport) -> None: ...


def iter_fills(results: Iterable[TradeResult]) -> Iterable[FillReport]:
    for r in results:
        yield from r.fills
