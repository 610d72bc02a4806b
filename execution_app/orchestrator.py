"""The orchestrator's spine: composes the stage ports in DESIGN.md's order.

signals -> views -> target weights -> sizing -> trades -> pre-trade checks ->
orders -> algo -> routing -> environment -> fills

It holds no stage's logic: every decision is a port's. Backtests and benchmarks run
the whole spine with array-backed ports (``execution_app.scenarios.ports``). The live
desk runs its first half for a proposal (signals → views → optimiser → sizing → trades
→ what-if check, ``execution_app.rebalance.construction``); its approved orders are
then worked by the orders app (the same algo and router classes, through the database
and the venues), not by this spine's execution stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from desk.interfaces import Aggregator, DeskEvent, EventSink, ExecutionAlgo, ExecutionEnvironment, ExecutionOrder, FillReport, MarketState, Optimiser, OrderGateway, OrderIntent, OrderStatus, PortfolioSnapshot, ProposedTrade, RiskEngine, RiskVerdict, Router, SignalSource, Sizer, TargetWeights, TradeBuilder, TradeResult, VenueQuote, View


class NullSink(EventSink):
    def publish(self, event: DeskEvent) -> None:
        return None


@dataclass
class Ports:
    """Every stage the orchestrator composes. ``algos`` by name; ``quotes(symbol, side)`` gives the router its venues."""

    signal_source: SignalSource
    aggregator: Aggregator
    optimiser: Optimiser
    sizer: Sizer
    trade_builder: TradeBuilder
    risk_engine: RiskEngine
    algos: Mapping[str, ExecutionAlgo]
    router: Router
    environment: ExecutionEnvironment
    gateway: OrderGateway
    quotes: Callable[[str], Sequence[VenueQuote]]
    event_sink: EventSink = field(default_factory=NullSink)


@dataclass(frozen=True)
class Plan:
    """What ``propose`` decided, stage by stage (kept for the proposal page and for run comparison)."""

    as_of: datetime
    views: Mapping[str, View]
    target: TargetWeights
    sized: TargetWeights
    trades: tuple[ProposedTrade, ...]
    intents: tuple[OrderIntent, ...]
    verdicts: tuple[RiskVerdict, ...]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


@dataclass(frozen=True)
class Execution:
    """What ``execute`` did: each intent's order id, verdict, slices' results, and every fill."""

    orders: tuple[tuple[str, RiskVerdict], ...]
    results: tuple[TradeResult, ...]
    fills: tuple[FillReport, ...]


class TradeExecutionOrchestrator:
    def __init__(self, ports: Ports):
        self.ports = ports

    # -- signals -> views -> targets -> sizing -> trades -> checks ---------------------------
    def views(self, as_of: datetime) -> dict[str, View]:
        signals = self.ports.signal_source.signals(as_of)
        if not signals:  # no signal, no view (every aggregator's answer; a strategy without agents asks every cycle)
            return {}
        return self.ports.aggregator.aggregate(signals, as_of)

    def propose(
        self,
        *,
        snapshot: PortfolioSnapshot,
        prices: Any,
        as_of: datetime,
        constraints: Mapping[str, Any],
        lot_sizes: Mapping[str, Decimal],
        sectors: Mapping[str, str] | None = None,
        client_id_prefix: str = "",
        marks: Mapping[str, Decimal] | None = None,
    ) -> Plan:
        """``marks`` (optional) are the prices trades are sized at, for symbols not yet held too."""
        views = self.views(as_of)
        target = self.ports.optimiser.optimise(
            prices=prices, views=views, current_weights=snapshot.weights(), constraints=constraints
        )
        sized = self.ports.sizer.size(target, prices=prices, snapshot=snapshot)
        priced = {"prices": marks} if marks is not None else {}
        trades = self.ports.trade_builder.trades(sized, snapshot=snapshot, lot_sizes=lot_sizes, **priced)
        intents = tuple(
            OrderIntent(
                portfolio_id=snapshot.portfolio_id,
                symbol=t.symbol,
                side=t.side,
                quantity=t.quantity,
                reference_price=t.price,
                client_order_id=f"{client_id_prefix}{t.symbol}" if client_id_prefix else "",
                sector=(sectors or {}).get(t.symbol, ""),
                ts=as_of,
            )
            for t in trades
        )
        verdicts = tuple(self.ports.risk_engine.check_many(list(intents), snapshot))
        return Plan(as_of, views, target, sized, tuple(trades), intents, verdicts)

    # -- orders -> algo -> routing -> environment -> fills ------------------------------------
    def execute(
        self,
        *,
        intents: Sequence[OrderIntent],
        snapshot: PortfolioSnapshot,
        market: Callable[[str], MarketState],
        algo: str = "IMMEDIATE",
        algo_params: Mapping[str, Any] | None = None,
        verdicts: Sequence[RiskVerdict] | None = None,
    ) -> Execution:
        """Check each intent again (limits may have changed since the proposal), record it,
        slice, route, execute. ``verdicts`` skips the re-check when they were just taken.

        A denied intent is recorded DENIED and never reaches a venue.
        """
        p = self.ports
        orders, results, fills = [], [], []
        if verdicts is None:
            verdicts = p.risk_engine.check_many(list(intents), snapshot)
        for intent, verdict in zip(intents, verdicts):
            coid = p.gateway.record_order(intent, verdict)
            orders.append((coid, verdict))
            if not verdict.passed:
                continue
            state = market(intent.symbol)
            for n, sl in enumerate(p.algos[algo].schedule(intent, state, algo_params or {})):
                decision = p.router.route(intent.side, sl.quantity, p.quotes(intent.symbol))
                for k, alloc in enumerate(decision.allocations):
                    child = ExecutionOrder(
                        client_order_id=f"{coid}-{n}-{k}",
                        symbol=intent.symbol,
                        side=intent.side,
                        quantity=alloc.quantity,
                        venue=alloc.venue,
                        order_type=intent.order_type,
                        limit_price=sl.limit_price if sl.limit_price is not None else intent.limit_price,
                        ts=sl.due,
                    )
                    result = p.environment.execute_trade(child)
                    results.append(result)
                    for fill in result.fills:
                        p.gateway.record_fill(fill)
                        fills.append(fill)
                        p.event_sink.publish(
                            DeskEvent("fill.created", {"trade_id": fill.trade_id, "symbol": fill.symbol}, ())
                        )
        return Execution(tuple(orders), tuple(results), tuple(fills))

    def run_cycle(
        self,
        *,
        snapshot: PortfolioSnapshot,
        prices: Any,
        as_of: datetime,
        constraints: Mapping[str, Any],
        lot_sizes: Mapping[str, Decimal],
        market: Callable[[str], MarketState],
        algo: str = "IMMEDIATE",
        algo_params: Mapping[str, Any] | None = None,
        sectors: Mapping[str, str] | None = None,
        client_id_prefix: str = "",
        marks: Mapping[str, Decimal] | None = None,
    ) -> tuple[Plan, Execution]:
        """Propose and execute at once: how a backtest rebalances (no trader in the loop)."""
        plan = self.propose(
            snapshot=snapshot, prices=prices, as_of=as_of, constraints=constraints, lot_sizes=lot_sizes,
            sectors=sectors, client_id_prefix=client_id_prefix, marks=marks,
        )
        execution = self.execute(
            intents=plan.intents, snapshot=snapshot, market=market, algo=algo, algo_params=algo_params,
            verdicts=plan.verdicts,
        ) if plan.intents else Execution((), (), ())
        return plan, execution


def terminal_statuses() -> frozenset[str]:
    return frozenset({OrderStatus.FILLED.value, OrderStatus.CANCELED.value, OrderStatus.DENIED.value,
                      OrderStatus.REJECTED.value, OrderStatus.EXPIRED.value})
