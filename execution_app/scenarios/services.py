"""Scenario runs: the writes. Reads live in ``scenario_selectors``.

- ``backtest_create``: validate (``backtest_validate``, ``ConfigError`` naming the
  field), store a QUEUED run, enqueue ``backtest_run`` after commit.
- ``backtest_execute``: the task's body, safe to run twice -- a DONE run is left
  alone, anything else is (re)run from scratch. Prices come from ``PriceBar`` in
  one query; the core (``execution_app.scenarios``) runs on arrays; results are
  stored once, at the end, with ``bulk_create``. Progress is stored on the run and
  pushed as ``run.progress`` to the desk group.
- ``backtest_run_now``: the same, in-process, for ``manage.py backtest``.
- ``paper_run_start`` / ``paper_run_stop`` / ``paper_runs_record``: a paper run
  follows a live portfolio, one equity point per market date (NAV at the marks),
  its trades taken from the portfolio's fills when it stops.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import transaction
from django.utils import timezone

from desk.lifecycle import apply_transition, update_where_allowed
from desk.tasks import enqueue_on_commit
from desk import groups
from desk.events import event_publish
from desk.interfaces import ConfigError
from execution_app.scenarios.lifecycle import FAIL, FINISH, SCENARIO_RUN_TABLE, START
from execution_app.models import ScenarioEquity, ScenarioRun, ScenarioTrade
from execution_app.scenarios import ScenarioConfig, ScenarioResult, jsonable_metrics

log = logging.getLogger(__name__)
INDEX_SYMBOL = "SPX"
PROGRESS_EVERY_S = 0.5


# ---------------------------------------------------------------------------
# Prices


def load_closes(*, start: date, end: date, lookback_days: int = 756, symbols=()) -> tuple[pd.DataFrame, pd.Series | None]:
    """Closes (dates x symbols) of the tradable instruments and the benchmark index, from ``PriceBar``.

    History starts early enough for the strategy's lookback. The matrix comes from the cache file of these very
    bars when there is one (``execution_app.scenarios.closes``). A database without bars (a fresh install before
    ``load_demo``) falls back to the bundled demo frames.
    """
    from execution_app.scenarios.closes import closes_matrix

    since = start - timedelta(days=int(lookback_days * 1.5) + 60)
    matrix = closes_matrix(since=since, end=end)
    if matrix is None:
        from skfolio.datasets import load_sp500_dataset, load_sp500_index

        closes, index = load_sp500_dataset(), load_sp500_index().iloc[:, 0]
        closes = closes.loc[pd.Timestamp(since) : pd.Timestamp(end)]
        return (closes[list(symbols)] if symbols else closes), index.loc[pd.Timestamp(since) : pd.Timestamp(end)]
    wide = pd.DataFrame(matrix.values, index=pd.DatetimeIndex(matrix.dates.astype("datetime64[s]"), name="date"),
                        columns=pd.Index(list(matrix.symbols), name="symbol"))
    bench = wide[INDEX_SYMBOL] if INDEX_SYMBOL in matrix.symbols else None
    tradable = [s for s in matrix.symbols if s not in matrix.indexes]
    if symbols:
        tradable = [s for s in symbols if s in wide.columns]
    return wide[tradable], bench


# ---------------------------------------------------------------------------
# Validation


def backtest_validate(values: Mapping[str, Any]) -> ScenarioConfig:
    """A ``ScenarioConfig`` from untrusted values; ``ConfigError(field, reason)`` on the first bad one."""
    config = ScenarioConfig.from_values(values)
    from execution_app.scenarios.runner import resolve_agents

    resolve_agents(config.agents)
    _strategy_check(config)
    return config


def _strategy_check(config: ScenarioConfig) -> None:
    """Refuse here, not in the worker, a universe the strategy may not have or budgets naming what is not in it."""
    from market_app.models import Instrument
    from portfolio_app.proposal_record import strategy_check

    equities = Instrument.objects.filter(tradable=True, asset_class=Instrument.AssetClass.EQUITY)
    universe = list(config.symbols) or sorted(equities.values_list("symbol", flat=True))
    optimiser = config.optimiser()
    try:
        # A run's optimiser knows sectors only from the run's constraints' sector_mapper: check against that.
        mapper = optimiser.constraints.merged(config.params.get("constraints") or {}).sector_mapper
    except ConfigError as e:
        raise ConfigError(f"params.constraints.{e.field}", e.reason) from None
    try:
        strategy_check(optimiser, universe=universe, sectors=dict(mapper))
    except ConfigError as e:
        raise ConfigError(e.field if e.field == "strategy" else f"params.{e.field}", e.reason) from None


def portfolio_limits(portfolio) -> list:
    """The active limits that apply to ``portfolio`` (desk-wide, its own, per instrument), as core ``Limit``s."""
    from django.db.models import Q

    from risk_app.checks import Limit
    from risk_app.models import RiskLimit

    rows = RiskLimit.objects.filter(enabled=True).filter(
        Q(scope="desk") | Q(scope="portfolio", scope_key=str(portfolio.pk)) | Q(scope__in=["instrument", "agent"])
    )
    return [Limit(r.id, r.name, r.kind, r.threshold, r.scope, r.scope_key or None, r.action, r.enabled, r.params or {})
            for r in rows]


# ---------------------------------------------------------------------------
# Backtests


def backtest_create(*, user, values: Mapping[str, Any], name: str = "", portfolio=None) -> ScenarioRun:
    config = backtest_validate(values)
    run = ScenarioRun.objects.create(
        kind=ScenarioRun.Kind.BACKTEST, name=name or f"{config.strategy} {config.rebalance}",
        strategy=config.strategy, params=config.to_dict(), status=ScenarioRun.Status.QUEUED,
        portfolio=portfolio, created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    enqueue_on_commit("execution_app.tasks.backtest_run", (run.pk,))
    return run


def _progress_publisher(run: ScenarioRun) -> Callable[[float], None]:
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        ScenarioRun.objects.filter(pk=run.pk).update(progress=round(fraction, 4))
        _publish(run, status=ScenarioRun.Status.RUNNING, progress=fraction)

    return progress


def _publish(run: ScenarioRun, **payload: Any) -> None:
    event_publish(event_type="run.progress", payload={"run_id": run.pk, "kind": run.kind, **payload},
                  groups=[groups.DESK])


def _run_core(run: ScenarioRun, config: ScenarioConfig, progress=None) -> ScenarioResult:
    from execution_app.scenarios import run_backtest

    lookback = int(config.params.get("lookback_days", 756))
    closes, bench = load_closes(start=config.start, end=config.end, lookback_days=lookback, symbols=config.symbols)
    limits = portfolio_limits(run.portfolio) if run.portfolio_id else None
    sectors = None
    if run.portfolio_id:
        from market_app.models import Instrument

        sectors = dict(Instrument.objects.values_list("symbol", "sector"))
    return run_backtest(closes, config, benchmark=bench, limits=limits, portfolio_id=run.portfolio_id or 0,
                        sectors=sectors, progress=progress, **_session_inputs(config, list(closes.columns)))


def _session_inputs(config: ScenarioConfig, symbols: list[str]) -> dict[str, Any]:
    """What an algo other than IMMEDIATE works over, as live: the instruments' stored ADV and the desk's path seed.

    ``PriceBar`` holds no volumes, so there are no trailing volumes to average; an instrument without a stored
    ADV gets the desk's default, and the run's notes say so.
    """
    if config.algo == "IMMEDIATE":
        return {}
    from django.conf import settings

    from market_app.models import Instrument

    adv = {s: float(a) for s, a in Instrument.objects.filter(symbol__in=symbols).values_list("symbol", "adv") if a}
    return {"adv": adv, "adv_source": "the instruments' stored ADV (Instrument.adv), as the live desk uses",
            "desk_seed": int(getattr(settings, "DESK_MARKET_SEED", 0))}


def rows_insert(model, fields: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Insert plain rows (values in ``fields``' order; a foreign key by its id) in bulk.

    PostgreSQL: one ``COPY`` of the whole table's text (a 23-year run's eleven thousand rows in a fraction of
    ``bulk_create``'s time, which builds a model instance and binds every parameter). A None, str, int, Decimal,
    date or finite float is written as its text, which the column reads as ``bulk_create``'s value (a decimal
    rounded to the column's places by the database); anything else passes through the field's
    ``get_db_prep_save`` first. Elsewhere: ``bulk_create``.
    """
    from django.db import connection

    concrete = [model._meta.get_field(f) for f in fields]
    if connection.vendor != "postgresql":
        attnames = [f.attname for f in concrete]
        model.objects.bulk_create([model(**dict(zip(attnames, row))) for row in rows], batch_size=2000)
        return
    columns = ", ".join(connection.ops.quote_name(f.column) for f in concrete)
    table = connection.ops.quote_name(model._meta.db_table)
    texts = [_copy_text(f, connection) for f in concrete]
    data = "".join("\t".join([text(v) for text, v in zip(texts, row)]) + "\n" for row in rows)
    with connection.cursor() as cur, cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608 - names from the model
        copy.write(data)


# COPY's text format: backslash, tab, newline and carriage return escaped; None is \\N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _float_text(value: float) -> str:
    return repr(value) if math.isfinite(value) else ("NaN" if value != value else f"{'-' if value < 0 else ''}Infinity")


# Values whose text every column of their kind reads as the field would have prepared them. Not a datetime: a
# DateField takes its date in the desk's time zone, which the field's preparation does.
_COPY_TEXT: dict[type, Callable[[Any], str]] = {
    type(None): lambda v: "\\N", int: str, Decimal: str, date: date.isoformat, float: _float_text,
    bool: lambda v: "t" if v else "f", str: lambda v: v.translate(_COPY_ESCAPES),
}


def _copy_value(value: Any) -> str:
    text = _COPY_TEXT.get(type(value))
    if text is not None:
        return text(value)
    # a str enum (Side.BUY) as its value, as the adapter sends it; anything else as its text (a UUID, ...)
    return str.translate(value if isinstance(value, str) else str(value), _COPY_ESCAPES)


def _copy_text(field, connection) -> Callable[[Any], str]:
    """A value's COPY text; ``field.get_db_prep_save`` first for what is not already a plain value (that call per
    value was most of the store's time)."""

    def text(value):
        plain = _COPY_TEXT.get(type(value))
        if plain is not None:
            return plain(value)
        return _copy_value(field.get_db_prep_save(value, connection))

    return text


def result_store(run: ScenarioRun, result: ScenarioResult, *, publish: bool = True) -> ScenarioRun:
    """Replace the run's results with ``result``: children in two bulk inserts, the run's row once.

    ``publish``: tell the browsers (the Backtests page); a command-line run has none to tell.
    """
    with transaction.atomic():
        ScenarioEquity.objects.filter(run=run).delete()
        ScenarioTrade.objects.filter(run=run).delete()
        rows_insert(ScenarioEquity, ("run", "date", "equity", "benchmark"),
                    ((run.pk, d, e, b) for d, e, b in result.equity_points()))
        rows_insert(ScenarioTrade, ("run", "date", "symbol", "side", "qty", "price", "commission", "slippage",
                                    "reference_price", "weight_after", "order_id"),
                    ((run.pk, t.date, t.symbol, t.side, t.qty, t.price, t.commission, t.slippage, t.reference_price,
                      t.weight_after, t.order_id[:64]) for t in result.trades))
        summary = {
            "fill_timing": result.fill_timing,
            "costs": {"commission": str(result.total_commission), "slippage": str(result.total_slippage)},
            "positions": result.positions, "rebalances": len(result.rebalances), "denied_orders": result.denied[:100],
            "denied_count": len(result.denied), "notes": result.notes[:100], "bars": result.bars,
            "elapsed_s": round(result.elapsed_s, 3), "trades": len(result.trades),
        }
        if run.status != ScenarioRun.Status.RUNNING:  # a benchmark stored in one go
            apply_transition(run, SCENARIO_RUN_TABLE, START)
        apply_transition(run, SCENARIO_RUN_TABLE, FINISH, fields={
            "progress": 1.0, "finished_at": timezone.now(), "final_value": result.final_value,
            "metrics": jsonable_metrics(result.metrics), "summary": summary, "error": "",
        })
        if publish:
            _publish(run, status=run.status, progress=1.0, final_value=run.final_value)
    return run


def _fail(run: ScenarioRun, message: str) -> None:
    update_where_allowed(ScenarioRun.objects.filter(pk=run.pk), SCENARIO_RUN_TABLE, FAIL, error=message[:2000],
                         finished_at=timezone.now())
    _publish(run, status=ScenarioRun.Status.FAILED, progress=run.progress, error=message[:300])


def backtest_execute(*, run_id: int) -> ScenarioRun | None:
    """Run a queued backtest (the ``backtest_run`` task). Locks the run's row to claim it."""
    with transaction.atomic():
        run = ScenarioRun.objects.select_for_update().filter(pk=run_id, kind=ScenarioRun.Kind.BACKTEST).first()
        if run is None or run.status == ScenarioRun.Status.DONE:
            return run
        apply_transition(run, SCENARIO_RUN_TABLE, START, fields={"started_at": timezone.now(), "progress": 0.0})
    _publish(run, status=run.status, progress=0.0)
    try:
        config = backtest_validate(run.params)
        result = _run_core(run, config, progress=_progress_publisher(run))
    except ConfigError as e:
        _fail(run, f"{e.field}: {e.reason}")
        return run
    except Exception as e:  # noqa: BLE001 - the run records why it failed; the task does not retry a bad run
        log.exception("backtest %s failed", run_id)
        _fail(run, f"{type(e).__name__}: {e}")
        return run
    return result_store(run, result)


def backtest_run_now(*, values: Mapping[str, Any], user=None, name: str = "", portfolio=None,
                     progress=None, publish: bool = True) -> tuple[ScenarioRun, ScenarioResult]:
    """Validate, run in this process and store: what ``manage.py backtest`` does (``publish=False``: no
    browser to tell, so no Redis needed)."""
    config = backtest_validate(values)
    run = ScenarioRun.objects.create(
        kind=ScenarioRun.Kind.BACKTEST, name=name or f"{config.strategy} {config.rebalance}",
        strategy=config.strategy, params=config.to_dict(), status=ScenarioRun.Status.RUNNING,
        started_at=timezone.now(), portfolio=portfolio, created_by=user,
    )
    result = _run_core(run, config, progress=progress)
    return result_store(run, result, publish=publish), result


def benchmark_run_now(*, values: Mapping[str, Any], user=None) -> tuple[ScenarioRun, ScenarioResult]:
    """The benchmark index held over the period, stored as a ``benchmark`` run."""
    from execution_app.scenarios.benchmark import run_benchmark

    config = backtest_validate({**values, "strategy": values.get("strategy") or "equal_weight"})
    _, bench = load_closes(start=config.start, end=config.end, lookback_days=0)
    if bench is None:
        raise ConfigError("benchmark", f"no {INDEX_SYMBOL} prices are stored")
    result = run_benchmark(bench, config)
    run = ScenarioRun.objects.create(kind=ScenarioRun.Kind.BENCHMARK, name=f"{INDEX_SYMBOL} buy and hold",
                                     strategy="index", params=config.to_dict(), status=ScenarioRun.Status.RUNNING,
                                     started_at=timezone.now(), created_by=user)
    return result_store(run, result), result


from execution_app.scenarios.paper_runs import paper_run_start, paper_run_stop, paper_runs_record  # noqa: E402,F401
