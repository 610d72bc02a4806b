"""One loop for every scenario: the rebalance calendar driving the one ``TradeExecutionOrchestrator``.

Only rebalance days run the pipeline (signals -> views -> optimiser -> sizer ->
whole-share trades, sells first -> pre-trade checks with ``wall_clock=False``
-> IMMEDIATE algo -> smart order router -> environment -> fills into the book).
Between them nothing happens, so daily equity is computed afterwards in one
vectorised pass: holdings (a step function of the fills) x closes, in exact
integer micro-dollars, rounded half-even to the cent.

What differs between scenarios is the *market* the loop trades in (a
``ScenarioMarket``): for the backtest ``BarMarket`` (decide and fill on daily
bars through ``BacktestEnvironment``) when the algo is IMMEDIATE, else
``SessionBarMarket`` (the same decisions, each order worked by its algo over the
execution day's simulated intraday path; ``markets.py``), ``PaperMarket``
(``paper.py``) for the paper exchange on a stepped clock.
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd

from desk.interfaces import ConfigError, ExecutionEnvironment, MarketState, VenueQuote
from desk.money import cash as to_cash
from execution_app.orchestrator import Ports, TradeExecutionOrchestrator
from portfolio_app.trades import LotTradeBuilder

from .calendar import rebalance_rows
from .config import ScenarioConfig
from .markets import BarMarket, SessionBarMarket, decimal_of as _dec
from .ports import AgentSpec, BookGateway, PassThroughSizer, PointInTimeSignalSource, TradeRecord

ZERO = Decimal(0)
_MICRO = 1_000_000


class ScenarioMarket(Protocol):
    """Where a run trades: its environment and, per rebalance row, the decision instant and marks."""

    label: str
    environment: ExecutionEnvironment
    notes: Sequence[str]  # what the run's result should say about this market
    timed_fills: bool  # fills at instants within a session, so the result shows each one's time

    def enter(self, row: int) -> tuple[datetime, dict[str, Decimal]]: ...

    def quotes(self, symbol: str) -> Sequence[VenueQuote]: ...

    def market_state(self, symbol: str) -> MarketState: ...

    def bar_price(self, symbol: str, ts: datetime) -> Decimal | None: ...

    def fill_date(self, ts: datetime) -> date: ...


@dataclass
class ScenarioResult:
    """Everything a run produced; ``to_json`` is what the CLI writes and the run's tables store."""

    config: ScenarioConfig
    kind: str
    fill_timing: str
    dates: list[date]
    equity_cents: np.ndarray
    benchmark_cents: np.ndarray | None
    trades: list[TradeRecord]
    positions: dict[str, dict[str, str]]
    metrics: dict[str, Any]
    rebalances: list[dict[str, Any]]
    denied: list[dict[str, Any]]
    bars: int
    elapsed_s: float
    book_value: Decimal = ZERO  # the book's own cash + qty x last close, to cross-check the equity curve
    notes: list[str] = field(default_factory=list)
    timed_fills: bool = False  # each trade's JSON carries its fill time (fills worked over a session)

    @property
    def final_value(self) -> Decimal:
        return Decimal(int(self.equity_cents[-1])) / 100

    @property
    def total_commission(self) -> Decimal:
        return sum((t.commission for t in self.trades), ZERO)

    @property
    def total_slippage(self) -> Decimal:
        return sum((t.slippage for t in self.trades), ZERO)

    def equity_series(self) -> pd.Series:
        return pd.Series(self.equity_cents / 100.0, index=pd.DatetimeIndex(self.dates), name="equity")

    def benchmark_series(self) -> pd.Series | None:
        if self.benchmark_cents is None:
            return None
        return pd.Series(self.benchmark_cents / 100.0, index=pd.DatetimeIndex(self.dates), name="benchmark")

    def equity_points(self) -> list[tuple[date, Decimal, Decimal | None]]:
        b = self.benchmark_cents
        return [
            (d, Decimal(int(e)) / 100, None if b is None else Decimal(int(b[i])) / 100)
            for i, (d, e) in enumerate(zip(self.dates, self.equity_cents))
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "config": self.config.to_dict(),
            "fill_timing": self.fill_timing,
            "final_value": str(self.final_value),
            "metrics": jsonable_metrics(self.metrics),
            "costs": {"commission": str(self.total_commission), "slippage": str(self.total_slippage),
                      "total": str(self.total_commission + self.total_slippage)},
            "equity": [{"date": d.isoformat(), "equity": str(e), "benchmark": None if b is None else str(b)}
                       for d, e, b in self.equity_points()],
            "trades": [{**t.as_dict(), "ts": t.ts.isoformat()} if self.timed_fills and t.ts else t.as_dict()
                       for t in self.trades],
            "positions": self.positions,
            "rebalances": len(self.rebalances),
            "denied_orders": self.denied,
            "bars": self.bars,
            "elapsed_s": round(self.elapsed_s, 4),
            "notes": self.notes,
        }


def jsonable_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """NaN (undefined) as null, Decimal costs as strings: JSON has no NaN."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, Decimal):
            out[k] = str(v)
        elif v is None or (isinstance(v, float) and not math.isfinite(v)):
            out[k] = None
        else:
            out[k] = float(v)
    return out


# ---------------------------------------------------------------------------
# Building the ports


def default_limits():
    """The backtest limit set when no portfolio is named: a cash account's leverage (gross / NAV) is at most 1."""
    from risk_app.checks import MAX_LEVERAGE, Limit

    return [Limit(None, "Backtest: max leverage", MAX_LEVERAGE, 1.0)]


def resolve_agents(specs: Sequence[Any]) -> list[AgentSpec]:
    from signals_app.agents.registry import get_agent_type

    out = []
    for k, spec in enumerate(specs):
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        name = spec.get("type")
        try:
            cls = get_agent_type(str(name))
        except ConfigError:
            raise ConfigError(f"params.agents[{k}]", f"unknown agent type {name!r}") from None
        if not getattr(cls, "computed", False):
            raise ConfigError(f"params.agents[{k}]", f"agent type {name!r} is not computed; a run cannot replay it")
        config = spec.get("config") or {}
        try:
            cls.validate_config(config)
        except ConfigError as e:
            raise ConfigError(f"params.agents[{k}].{e.field}", e.reason) from None
        out.append(AgentSpec(spec.get("name") or str(name), cls(), config, float(spec.get("weight", 1.0))))
    return out


def build_orchestrator(config: ScenarioConfig, closes: pd.DataFrame, market: ScenarioMarket, gateway: BookGateway,
                       limits=None) -> TradeExecutionOrchestrator:
    from signals_app.aggregation import get_aggregator
    from orders_app.algos import ALGOS
    from orders_app.routing import SmartOrderRouter
    from risk_app.checks import PreTradeRiskEngine
    from risk_app.sizing import SizingConfig, VolTargetSizer

    p = config.params
    sizing = p.get("sizing")
    agg = dict(p.get("aggregation") or {})
    ports = Ports(
        signal_source=PointInTimeSignalSource(closes, resolve_agents(config.agents),
                                              history_rows=int(p.get("history_rows", 400))),
        aggregator=get_aggregator(agg.pop("method", "weighted_decay"), **agg),
        # A run never reads the target's expected return / volatility: equal weight skips the covariance.
        optimiser=dataclasses.replace(config.optimiser(), metrics=False),
        sizer=VolTargetSizer(SizingConfig(**sizing)) if sizing else PassThroughSizer(),
        trade_builder=LotTradeBuilder(cost_bps=config.commission_bps + config.slippage_bps),
        risk_engine=PreTradeRiskEngine(default_limits() if limits is None else limits, wall_clock=False),
        algos=ALGOS,
        router=SmartOrderRouter(),
        environment=market.environment,
        gateway=gateway,
        quotes=market.quotes,
    )
    return TradeExecutionOrchestrator(ports)


# ---------------------------------------------------------------------------
# The loop


def prepare_closes(closes: pd.DataFrame, config: ScenarioConfig) -> pd.DataFrame:
    """The run's columns, rows up to ``end``, prices at 6 places (as ``PriceBar`` stores them)."""
    frame = closes.sort_index()
    if config.symbols:
        missing = [s for s in config.symbols if s not in frame.columns]
        if missing:
            raise ConfigError("params.symbols", f"no prices for {', '.join(missing)}")
        frame = frame[list(config.symbols)]
    frame = frame.loc[: pd.Timestamp(config.end)].astype("float64").round(6)
    return frame


def run_scenario(
    closes: pd.DataFrame,
    config: ScenarioConfig,
    market_factory: Callable[[np.ndarray, list[date], list[str]], ScenarioMarket],
    *,
    kind: str = "backtest",
    benchmark: pd.Series | None = None,
    limits=None,
    portfolio_id: int = 0,
    sectors: Mapping[str, str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> ScenarioResult:
    t0 = _time.perf_counter()
    frame = prepare_closes(closes, config)
    days = pd.DatetimeIndex(frame.index)
    dates = days.values.astype("datetime64[D]").tolist() if days.tz is None else [ts.date() for ts in days]
    symbols = [str(c) for c in frame.columns]
    first = int(days.searchsorted(pd.Timestamp(config.start)))
    if first >= len(dates):
        raise ConfigError("start", f"there are no prices on or after {config.start.isoformat()}")
    last = len(dates) - 1
    valued = frame.ffill().to_numpy()  # a gap is valued at the last close
    market = market_factory(valued, dates, symbols)
    gateway = BookGateway(config.capital, bar_price=market.bar_price, fill_date=market.fill_date)
    orch = build_orchestrator(config, frame, market, gateway, limits)
    lookback = int(orch.ports.optimiser.p["lookback_days"])
    if config.params.get("sizing"):
        lookback = max(lookback, int(config.params["sizing"].get("lookback", 252)))
    index = frame.index
    algo, algo_params = config.algo, config.algo_params
    constraints = dict(config.params.get("constraints") or {})
    rows = rebalance_rows(dates, first, last, config.rebalance)
    from portfolio_app.optimisation import OptimisationError
    from portfolio_app.trades import TradeError

    rebalances, denied, notes = [], [], []
    peak = config.capital
    step = max(1, len(rows) // 50)
    for k, row in enumerate(rows):
        as_of, marks = market.enter(row)
        lo = max(0, row - lookback)
        window = frame.iloc[lo : row + 1]  # a view (copy-on-write): the rows the decision may look at
        peak = max(peak, gateway.nav(marks))
        snap = gateway.snapshot(marks, as_of=as_of, peak_nav=peak, portfolio_id=portfolio_id, sectors=sectors)
        try:
            plan = orch.propose(
                snapshot=snap, prices=window, as_of=as_of, constraints=constraints, lot_sizes={},
                marks=marks, client_id_prefix=f"R{k}-", sectors=sectors,
            )
        except (OptimisationError, TradeError) as exc:
            notes.append(f"{dates[row].isoformat()}: rebalance skipped, holdings kept: {exc}")
            continue
        gateway.weights = dict(plan.sized.weights)  # each fill records the weight its trade aimed at
        fills = 0
        if plan.intents:
            execution = orch.execute(intents=plan.intents, snapshot=snap, market=market.market_state, algo=algo,
                                     algo_params=algo_params, verdicts=plan.verdicts)
            fills = len(execution.fills)
            if algo != "IMMEDIATE":
                _note_unworked(notes, dates[row], algo, plan, execution)
        for intent, verdict in zip(plan.intents, plan.verdicts):
            if not verdict.passed:
                denied.append({"date": dates[row].isoformat(), "symbol": intent.symbol, "side": intent.side.value,
                               "qty": str(intent.quantity), "reasons": list(verdict.reasons)})
        rebalances.append({"date": dates[row].isoformat(), "orders": len(plan.intents),
                           "fills": fills})
        if progress and (k % step == 0 or k == len(rows) - 1):
            progress((k + 1) / len(rows))
    equity = equity_cents(valued, dates, symbols, gateway.trades, config.capital, first, last)
    bench = None
    if benchmark is not None and len(benchmark):
        b = pd.Series(benchmark, dtype="float64").sort_index()
        b = b.reindex(pd.DatetimeIndex(index[first : last + 1])).ffill().bfill().to_numpy()
        bench = np.rint(float(config.capital) * 100.0 * b / b[0]).astype(np.int64)
    run_dates = dates[first : last + 1]
    last_marks = {s: _dec(valued[last, j]) for j, s in enumerate(symbols) if not math.isnan(valued[last, j])}
    positions = {
        s: {"qty": str(q), "avg_cost": str(gateway.avg_cost[s]), "mark": str(last_marks.get(s, "")),
            "value": str(to_cash(q * last_marks.get(s, ZERO)))}
        for s, q in sorted(gateway.qty.items())
    }
    result = ScenarioResult(
        config=config, kind=kind, fill_timing=market.label, dates=run_dates, equity_cents=equity,
        benchmark_cents=bench, trades=gateway.trades, positions=positions, metrics={}, rebalances=rebalances,
        denied=denied, bars=(last - first + 1) * len(symbols), elapsed_s=0.0,
        book_value=to_cash(gateway.nav(last_marks)), notes=[*market.notes, *notes], timed_fills=market.timed_fills,
    )
    from execution_app.scenarios.metrics import compute_metrics

    result.metrics = compute_metrics(result.equity_series(), result.benchmark_series(), result.trades)
    result.elapsed_s = _time.perf_counter() - t0
    return result


def _note_unworked(notes: list[str], day: date, algo: str, plan, execution) -> None:
    """Say what an algo left undone by the end of its session (POV's ``on_shortfall="expire"``, a missing price)."""
    wanted = {i.symbol: i.quantity for i, v in zip(plan.intents, plan.verdicts) if v.passed}
    done: dict[str, Decimal] = {}
    for f in execution.fills:
        done[f.symbol] = done.get(f.symbol, ZERO) + f.last_qty
    short = {s: q - done.get(s, ZERO) for s, q in wanted.items() if q > done.get(s, ZERO)}
    if short:
        notes.append(f"{day.isoformat()}: {algo} left {sum(short.values())} shares of {len(short)} orders unworked "
                     f"at the session's end ({', '.join(sorted(short)[:5])}{' …' if len(short) > 5 else ''})")


def equity_cents(valued: np.ndarray, dates: Sequence[date], symbols: Sequence[str], trades: Sequence[TradeRecord],
                 capital: Decimal, first: int, last: int) -> np.ndarray:
    """Daily equity from ``first`` to ``last`` in cents: cash + holdings x close, exact, half-even per day.

    Holdings and cash are step functions of the fills (a fill on day d counts from d's close on).
    """
    n, m = last - first + 1, len(symbols)
    col = {s: j for j, s in enumerate(symbols)}
    row_of = {d: i for i, d in enumerate(dates)}
    dq = np.zeros((n, m), dtype=np.int64)
    dcash = np.zeros(n, dtype=np.int64)  # micro-dollars
    for t in trades:
        i = row_of[t.date] - first
        signed = t.qty if t.side == "BUY" else -t.qty
        if signed != signed.to_integral_value():
            raise ValueError("exact equity needs whole-share fills")
        dq[i, col[t.symbol]] += int(signed)
        # Exactly what apply_fill moves: the notional to the cent, then the commission.
        dcash[i] += int((to_cash(-signed * t.price) - t.commission) * 100) * 10_000
    held = np.cumsum(dq, axis=0)
    px = np.nan_to_num(valued[first : last + 1], nan=0.0)
    micro = np.rint(px * _MICRO).astype(np.int64)
    total = int(to_cash(capital) * 100) * 10_000 + np.cumsum(dcash) + (held * micro).sum(axis=1)
    q, r = np.divmod(total, 10_000)
    up = (r > 5_000) | ((r == 5_000) & (q % 2 == 1))
    return q + up.astype(np.int64)


def run_backtest(
    closes: pd.DataFrame,
    config: ScenarioConfig,
    *,
    adv: Mapping[str, float] | None = None,
    volumes: pd.DataFrame | None = None,
    adv_source: str = "the ADV given per instrument",
    desk_seed: int = 0,
    **kwargs: Any,
) -> ScenarioResult:
    """A backtest over daily closes (dates x symbols); see ``run_scenario`` for the other keyword arguments.

    IMMEDIATE fills each order whole at a close (``BarMarket``); any other algo works it over the execution
    day's simulated session (``SessionBarMarket``), with ADVs from ``volumes`` (daily, dates x symbols), else
    ``adv`` (shares per symbol, ``adv_source`` saying whose), else the desk's default, and the paths' ``desk_seed``.
    """
    if config.algo == "IMMEDIATE":
        def factory(px, dates, symbols):
            return BarMarket(px, dates, symbols, config)
    else:
        def factory(px, dates, symbols):
            return SessionBarMarket(px, dates, symbols, config, adv=adv, volumes=volumes, adv_source=adv_source,
                                    desk_seed=desk_seed)
    return run_scenario(closes, config, factory, kind="backtest", **kwargs)
