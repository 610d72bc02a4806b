"""From a portfolio's stored config and the desk's data to a rebalance plan.

Reads only: loads prices known at the market date, views, positions and marks,
then runs the pure core (optimiser → risk sizing → whole-lot trades → metrics).
``services.proposal_compute`` saves what ``proposal_plan`` returns.

``Portfolio.strategy_params`` holds the optimiser's parameters (see
``optimisation/optimiser.py``) plus these desk keys, which the optimiser never sees::

    {"algo": "TWAP", "algo_params": {"slices": 4},   # how approved orders are worked
     "sizing": {"target_vol": 0.15, "max_weight": 0.1},  # risk_app.sizing.SizingConfig
     "cost_bps": 5,                                  # estimated trading cost
     "universe": ["AAPL", "MSFT"]}                   # default: every tradable equity
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from desk import money
from execution_app.orchestrator import Ports, TradeExecutionOrchestrator
from execution_app.ports import DbSignalSource, DeskWhatIfRiskEngine, NoSignals, NotInProposals, desk_aggregator
from desk.interfaces import ConfigError, ProposedTrade
from desk.clock import NEW_YORK
from portfolio_app.models import Portfolio
from portfolio_app.optimisation import OptimisationError, portfolio_metrics
from market_app.marks import marks_at
from market_app.selectors import price_frame
from portfolio_app.strategy import desk_params, optimiser_for, snapshot_of, universe
from portfolio_app import proposal_record
from portfolio_app.trades import LotTradeBuilder, estimate_costs, turnover



@dataclass(frozen=True)
class ProposalPlan:
    strategy: str
    params: dict[str, Any]  # what was used, for the proposal page
    target_weights: dict[str, float]
    current_weights: dict[str, float]
    metrics_before: dict[str, float | None]
    metrics_after: dict[str, float | None]
    trades: list[ProposedTrade]
    turnover: float
    estimated_costs: Decimal
    reference_prices: dict[str, Decimal]
    instrument_ids: dict[str, int] = field(default_factory=dict)
    sectors: dict[str, str] = field(default_factory=dict)
    verdicts: list = field(default_factory=list)  # the pipeline's what-if, one per trade
    post_trade: dict = field(default_factory=dict)
    # The risk the proposal changes and what made it (optimisation/provenance.py).
    risk_report: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    inputs_hash: str = ""


def sizer_for(portfolio: Portfolio, sizing: dict[str, Any]):
    from risk_app.sizing import SizingConfig, VolTargetSizer

    known = {f.name for f in fields(SizingConfig)}
    unknown = sorted(set(sizing) - known)
    if unknown:
        raise ConfigError(f"sizing.{unknown[0]}", f"unknown sizing parameter (known: {', '.join(sorted(known))})")
    cfg = {"target_vol": None, "max_gross": float(portfolio.gross_limit), **sizing}
    return VolTargetSizer(SizingConfig(**cfg))


def _trade_builder(portfolio: Portfolio, cost_bps, symbols: list[str]) -> LotTradeBuilder:
    """Whole-lot trades; a cash account's buys also fit what the gate will reserve for them at approval."""
    if portfolio.long_short:
        return LotTradeBuilder(cost_bps)
    from orders_app.reservations import reserved_total
    from risk_app.services.buying_power import proposal_reserve_rule

    return LotTradeBuilder(cost_bps, reserve=proposal_reserve_rule(portfolio_id=portfolio.pk, symbols=symbols),
                           reserved=reserved_total(portfolio_id=portfolio.pk))


def _metrics(m) -> dict[str, float | None]:
    return {"expected_return": m.expected_return, "volatility": m.volatility, "sharpe": m.sharpe}


def proposal_plan(portfolio: Portfolio, *, market_now: datetime) -> ProposalPlan:
    """Raises ``OptimisationError`` / ``ConfigError`` / ``trades.TradeError`` with a readable sentence."""
    desk = desk_params(portfolio)
    instruments = universe(portfolio, desk["universe"])
    sectors = {s: i.sector for s, i in instruments.items()}
    optimiser = optimiser_for(portfolio, sectors)
    p = optimiser.p
    timed = proposal_record.timed_optimiser(optimiser, universe=list(instruments), sectors=sectors)
    market_date = market_now.astimezone(NEW_YORK).date()
    lookback = int(p["lookback_days"])
    # Sessions to calendar days (252 a year), with slack for holidays.
    since = market_date - timedelta(days=int(lookback * 365 / 252) + 14)
    prices = price_frame([i.pk for i in instruments.values()], before=market_date, since=since)
    if prices.empty:
        raise OptimisationError(
            "too_few_prices", f"There are no closing prices before {market_date.isoformat()} to estimate risk from."
        )
    marks = marks_at(list(instruments), market_now)
    snapshot = snapshot_of(portfolio, marks, market_now)
    current = snapshot.weights()
    lots = {s: i.lot_size for s, i in instruments.items()}

    # The orchestrator's first half, as backtests run it: signals -> views -> optimiser -> sizing -> trades -> risk.
    risk = DeskWhatIfRiskEngine(portfolio.pk)
    orchestrator = TradeExecutionOrchestrator(Ports(
        # A shadow portfolio also hears shadow agents; a live one only live agents.
        signal_source=DbSignalSource(exclude_shadow=portfolio.mode == Portfolio.Mode.LIVE)
        if optimiser.strategy == "black_litterman" else NoSignals(),
        aggregator=desk_aggregator(),
        optimiser=timed,
        sizer=sizer_for(portfolio, desk["sizing"]),
        trade_builder=_trade_builder(portfolio, desk["cost_bps"], list(instruments)),
        risk_engine=risk,
        algos={},
        router=NotInProposals("router"),
        environment=NotInProposals("environment"),
        gateway=NotInProposals("gateway"),
        quotes=lambda symbol: [],
    ))
    pipeline = orchestrator.propose(
        snapshot=snapshot, prices=prices, as_of=market_now, constraints={}, lot_sizes=lots, sectors=sectors,
        marks={s: m for s, m in marks.items()},
    )
    views = {s: v for s, v in pipeline.views.items() if s in set(prices.columns)}
    agents = len({a for v in views.values() for a in v.contributions})
    target, sized, trades = pipeline.target, pipeline.sized, list(pipeline.trades)

    nav = snapshot.nav
    after_qty = {s: pos.quantity for s, pos in snapshot.positions.items()}
    for t in trades:
        after_qty[t.symbol] = after_qty.get(t.symbol, Decimal(0)) + t.side.sign * t.quantity
    px = {**{s: pos.mark for s, pos in snapshot.positions.items()}, **{t.symbol: t.price for t in trades}}
    after = {s: float(q * px[s] / nav) for s, q in after_qty.items() if q} if nav > 0 else {}
    est = timed.optimiser_used.estimates(prices, views)
    rf = float(p["risk_free_rate"])
    before_m = portfolio_metrics(current, est.mu_series, est.cov_frame, rf)
    after_m = portfolio_metrics(after, est.mu_series, est.cov_frame, rf)
    rows = min(len(prices), lookback + 1)
    params = {
        "risk_model": p["risk_model"],
        "return_model": p["return_model"],
        "lookback_days": lookback,
        "history_rows": rows,
        "risk_free_rate": rf,
        "universe": len(est.symbols),
        "views": len(views),
        "agents": agents,
        "cost_bps": float(money.to_decimal(desk["cost_bps"])),
        "algo": desk["algo"],
        "sizing": desk["sizing"],
        "notes": list(sized.notes),
        "optimiser_weights": _rounded(target.weights),
        "constraints": dict(portfolio.constraints or {}),
    }
    record = proposal_record.analysis(
        portfolio, timed, est, prices=prices, views=views, current=current, after=after, solution=target.weights,
        sectors=sectors, since=since, before=market_date,
    )
    return ProposalPlan(
        risk_report=record.risk_report,
        provenance=record.provenance,
        inputs_hash=record.inputs_hash,
        strategy=timed.strategy_used,
        params=params,
        target_weights=_rounded(sized.weights),
        current_weights=_rounded(current),
        metrics_before=_metrics(before_m),
        metrics_after=_metrics(after_m),
        trades=trades,
        turnover=turnover(trades, nav),
        estimated_costs=estimate_costs(trades, desk["cost_bps"]),
        reference_prices={t.symbol: t.price for t in trades} or {s: marks[s] for s in current if s in marks},
        instrument_ids={s: i.pk for s, i in instruments.items()},
        sectors=sectors,
        verdicts=list(pipeline.verdicts),
        post_trade=dict(risk.last.post_trade) if risk.last is not None else {},
    )


def _rounded(weights) -> dict[str, float]:
    return {s: round(float(w), 6) for s, w in sorted(weights.items()) if abs(float(w)) >= 5e-7}
