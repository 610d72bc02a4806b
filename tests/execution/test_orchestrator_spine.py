"""The orchestrator's spine, driven by small in-test ports: order of stages, denials stop at risk."""

from datetime import UTC, datetime
from decimal import Decimal as D

from desk.interfaces import Aggregator, ExecutionAlgo, ExecutionEnvironment, FillReport, LimitBreach, LiquiditySide, MarketState, Optimiser, OrderGateway, OrderStatus, ProposedTrade, RiskEngine, RiskVerdict, RouteAllocation, RouteDecision, Router, SignalRecord, SignalSource, Side, Sizer, Slice, TargetWeights, TradeBuilder, TradeResult, VenueQuote, View, PortfolioSnapshot
from execution_app.orchestrator import Ports, TradeExecutionOrchestrator

AS_OF = datetime(2022, 3, 1, 21, 0, tzinfo=UTC)
calls: list[str] = []


class Source(SignalSource):
    def signals(self, as_of):
        calls.append("signals")
        return [SignalRecord("a", "AAA", 0.5, 1.0, as_of), SignalRecord("a", "BBB", -0.5, 1.0, as_of)]


class Agg(Aggregator):
    def aggregate(self, signals, as_of):
        calls.append("aggregate")
        return {s.symbol: View(s.symbol, s.score, s.confidence, {s.agent: s.score}) for s in signals}


class Opt(Optimiser):
    seen_views = None

    def optimise(self, *, prices, views, current_weights, constraints):
        calls.append("optimise")
        Opt.seen_views = views
        return TargetWeights({"AAA": 0.6, "BBB": 0.0}, "test")


class HalfSizer(Sizer):
    def size(self, target, *, prices, snapshot):
        calls.append("size")
        return TargetWeights({k: v / 2 for k, v in target.weights.items()}, target.strategy)


class Builder(TradeBuilder):
    def trades(self, target, *, snapshot, lot_sizes):
        calls.append("trades")
        nav = snapshot.nav
        return [ProposedTrade(s, Side.BUY, D(int(nav * D(str(w)) / 10)), D(10), 0.0, w) for s, w in target.weights.items() if w > 0] + [
            ProposedTrade("BBB", Side.SELL, D(5), D(20), 0.1, 0.0)
        ]


class DenySells(RiskEngine):
    def check(self, intent, snapshot):
        calls.append("check")
        if intent.side is Side.SELL:
            return RiskVerdict(False, (LimitBreach(1, "no sells", "test", "block", 0, 1, "Sells are not allowed in this test"),))
        return RiskVerdict.ok()


class TwoSlices(ExecutionAlgo):
    def schedule(self, intent, market, params):
        calls.append("schedule")
        half = intent.quantity // 2
        return [Slice(market.now, half), Slice(market.now, intent.quantity - half, sequence=1)]


class SplitRouter(Router):
    def route(self, side, quantity, quotes):
        calls.append("route")
        a = quantity // 2
        return RouteDecision((RouteAllocation("V1", a, D(10), 1.0), RouteAllocation("V2", quantity - a, D(10), 1.2)), 1.1)


class Env(ExecutionEnvironment):
    def execute_trade(self, order):
        calls.append("execute")
        fill = FillReport(f"T-{order.client_order_id}", order.client_order_id, order.venue, order.symbol, order.side,
                          order.quantity, D(10), D("0.01"), LiquiditySide.TAKER, AS_OF)
        return TradeResult(order.client_order_id, OrderStatus.FILLED, (fill,))


class Gateway(OrderGateway):
    def __init__(self):
        self.orders, self.fills = [], []

    def record_order(self, intent, verdict):
        calls.append("record_order")
        self.orders.append((intent, verdict.passed))
        return f"O{len(self.orders)}"

    def record_fill(self, fill):
        self.fills.append(fill)


def make():
    calls.clear()
    gateway = Gateway()
    ports = Ports(
        signal_source=Source(), aggregator=Agg(), optimiser=Opt(), sizer=HalfSizer(), trade_builder=Builder(),
        risk_engine=DenySells(), algos={"TWO": TwoSlices()}, router=SplitRouter(), environment=Env(),
        gateway=gateway, quotes=lambda symbol: [VenueQuote("V1", D(9), D(10), D(1000), 0, 0, 1, 0.1)],
    )
    return TradeExecutionOrchestrator(ports), gateway


SNAP = PortfolioSnapshot(portfolio_id=1, cash=D(1000), positions={})


def market(symbol):
    return MarketState(now=AS_OF, session_open=AS_OF, session_close=AS_OF, mark=D(10))


def test_propose_when_called_then_stages_run_in_design_order_and_views_reach_optimiser():
    orch, _ = make()
    plan = orch.propose(snapshot=SNAP, prices=None, as_of=AS_OF, constraints={}, lot_sizes={})
    assert calls == ["signals", "aggregate", "optimise", "size", "trades", "check", "check"]
    assert set(Opt.seen_views) == {"AAA", "BBB"} and Opt.seen_views["AAA"].score == 0.5
    assert plan.sized.weights["AAA"] == 0.3
    assert [t.quantity for t in plan.trades] == [D(30), D(5)]
    assert [v.passed for v in plan.verdicts] == [True, False] and not plan.passed


def test_run_cycle_when_an_intent_is_denied_then_recorded_and_never_reaches_a_venue():
    orch, gateway = make()
    plan, execution = orch.run_cycle(snapshot=SNAP, prices=None, as_of=AS_OF, constraints={}, lot_sizes={}, market=market, algo="TWO")
    assert [(i.symbol, passed) for i, passed in gateway.orders] == [("AAA", True), ("BBB", False)]
    # AAA: 30 shares -> 2 slices of 15 -> each split 7/8 across two venues = 4 child orders.
    assert [f.venue for f in execution.fills] == ["V1", "V2", "V1", "V2"]
    assert sum(f.last_qty for f in execution.fills) == D(30)
    assert all(f.symbol == "AAA" for f in gateway.fills)
    assert calls.count("execute") == 4


def test_execute_when_limits_changed_then_rechecks_before_sending():
    orch, gateway = make()
    plan = orch.propose(snapshot=SNAP, prices=None, as_of=AS_OF, constraints={}, lot_sizes={})
    calls.clear()
    orch.execute(intents=plan.intents, snapshot=SNAP, market=market, algo="TWO")
    assert calls[:2] == ["check", "check"]
