"""Paper (and live) runs: a live portfolio's equity recorded as it goes, as a ``ScenarioRun(kind=paper)``.

Honest and simple: a paper run does not trade by itself -- the portfolio's own
proposals, approvals and orders do, on the paper exchange and the market clock.
The run only *records*: ``paper_runs_record`` (a beat job) writes one equity
point per market date, the NAV of the one book valuation at the clock's market time
(``portfolio_app.valuation``; a held instrument without a mark is an error naming it), updated in place
until the session changes, with the benchmark index scaled to the NAV at the
start. When the run is stopped its trades are copied from the portfolio's fills
in the run's market-time window, so it can be compared with a backtest of the
same period (``scenarios.attribution``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from execution_app.scenarios.lifecycle import FINISH, SCENARIO_RUN_TABLE
from execution_app.models import ScenarioEquity, ScenarioRun, ScenarioTrade
from desk.lifecycle import apply_transition
from desk.money import cash

log = logging.getLogger(__name__)
INDEX_SYMBOL = "SPX"


def _clock():
    from market_app.clock import get_clock

    return get_clock()


def nav_at_marks(portfolio, t: datetime) -> tuple[Decimal, Decimal | None]:
    """(NAV, benchmark index level) of ``portfolio`` at market time ``t``; the level is None without a mark."""
    from market_app.marks import marks_found
    from portfolio_app.valuation import portfolio_value

    nav = portfolio_value(portfolio, t).nav
    bench = marks_found([INDEX_SYMBOL], t)[0].get(INDEX_SYMBOL)
    return cash(nav), bench


def paper_run_start(*, portfolio, user=None) -> ScenarioRun:
    """Start recording ``portfolio`` (one running paper run per portfolio: a second start returns it)."""
    with transaction.atomic():
        running = (ScenarioRun.objects.select_for_update()
                   .filter(kind=ScenarioRun.Kind.PAPER, portfolio=portfolio, status=ScenarioRun.Status.RUNNING).first())
        if running:
            return running
        t = _clock().market_now()
        nav, bench = nav_at_marks(portfolio, t)
        run = ScenarioRun.objects.create(
            kind=ScenarioRun.Kind.PAPER, name=f"{portfolio.name} paper", strategy=portfolio.strategy,
            params={"portfolio": portfolio.name, "market_start": t.isoformat(), "start": t.date().isoformat(),
                    "start_nav": str(nav), "benchmark_start": None if bench is None else str(bench),
                    "strategy_params": portfolio.strategy_params, "rebalance_policy": portfolio.rebalance_policy},
            status=ScenarioRun.Status.RUNNING, started_at=timezone.now(), portfolio=portfolio,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        _record(run, t, nav, bench)
    return run


def _record(run: ScenarioRun, t: datetime, nav: Decimal, bench: Decimal | None) -> None:
    b0 = run.params.get("benchmark_start")
    scaled = None
    if bench is not None and b0:
        scaled = cash(Decimal(run.params["start_nav"]) * bench / Decimal(b0))
    ScenarioEquity.objects.update_or_create(run=run, date=t.date(), defaults={"equity": nav, "benchmark": scaled})
    ScenarioRun.objects.filter(pk=run.pk).update(final_value=nav)


def paper_runs_record() -> int:
    """Beat: append (or update today's) equity point of every running paper run. Returns how many."""
    t = _clock().market_now()
    n = 0
    for run in ScenarioRun.objects.filter(kind=ScenarioRun.Kind.PAPER, status=ScenarioRun.Status.RUNNING,
                                          portfolio__isnull=False).select_related("portfolio"):
        try:
            nav, bench = nav_at_marks(run.portfolio, t)
            _record(run, t, nav, bench)
            n += 1
        except Exception:  # noqa: BLE001 - one portfolio's trouble must not stop the others' records
            log.exception("paper run %s: recording failed", run.pk)
    return n


def _fills_as_trades(run: ScenarioRun, start: datetime, end: datetime) -> list[ScenarioTrade]:
    from orders_app.models import Fill

    fills = (Fill.objects.filter(order__portfolio_id=run.portfolio_id, ts_event__gte=start, ts_event__lte=end)
             .select_related("order__instrument", "order__parent__proposal", "order__proposal").order_by("ts_event", "id"))
    out = []
    for f in fills:
        order = f.order
        parent = order.parent or order
        proposal = parent.proposal if parent.proposal_id else None
        weight = (proposal.target_weights or {}).get(order.instrument.symbol) if proposal else None
        ref = parent.arrival_px or order.arrival_px
        slip = cash(abs(f.last_px - ref) * f.last_qty) if ref is not None else Decimal(0)
        out.append(ScenarioTrade(run=run, date=f.ts_event.date(), symbol=order.instrument.symbol, side=order.side,
                                 qty=f.last_qty, price=f.last_px, commission=f.commission, slippage=slip,
                                 reference_price=ref, weight_after=float(weight) if weight is not None else None,
                                 order_id=parent.client_order_id[:64]))
    return out


def paper_run_stop(*, run_id: int, user=None) -> ScenarioRun:
    """Stop recording: last point, the portfolio's fills in the window as trades, metrics."""
    import pandas as pd

    from execution_app.scenarios.metrics import compute_metrics
    from execution_app.scenarios import jsonable_metrics

    with transaction.atomic():
        run = ScenarioRun.objects.select_for_update(of=("self",)).select_related("portfolio").get(pk=run_id,
                                                                                        kind=ScenarioRun.Kind.PAPER)
        if run.status != ScenarioRun.Status.RUNNING:
            return run
        t = _clock().market_now()
        if run.portfolio_id:
            nav, bench = nav_at_marks(run.portfolio, t)
            _record(run, t, nav, bench)
            ScenarioTrade.objects.filter(run=run).delete()
            start = datetime.fromisoformat(run.params["market_start"])
            ScenarioTrade.objects.bulk_create(_fills_as_trades(run, start, t))
        points = list(ScenarioEquity.objects.filter(run=run).order_by("date").values_list("date", "equity", "benchmark"))
        idx = pd.DatetimeIndex([d for d, _, _ in points])
        equity = pd.Series([float(e) for _, e, _ in points], index=idx)
        bench_s = pd.Series([float(b) if b is not None else float("nan") for _, _, b in points], index=idx)
        trades = list(ScenarioTrade.objects.filter(run=run).values("qty", "price", "commission", "slippage"))
        run.metrics = jsonable_metrics(compute_metrics(equity, bench_s if bench_s.notna().sum() > 1 else None, trades))
        run.params = {**run.params, "market_end": t.isoformat(), "end": t.date().isoformat()}
        run.save(update_fields=["metrics", "params"])
        apply_transition(run, SCENARIO_RUN_TABLE, FINISH, fields={
            "finished_at": timezone.now(), "progress": 1.0, "final_value": points[-1][1] if points else None,
            "summary": {"trades": len(trades), "fill_timing": "paper exchange (live orders of the portfolio)"},
        })
    return run
