"""Scenario runs: the reads -- who sees which run, payloads, charts, comparison, CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db.models import Q

from execution_app.models import ScenarioEquity, ScenarioRun, ScenarioTrade
from execution_app.scenarios.metrics import METRIC_NAMES, metrics_table
from execution_app.scenarios.svg import drawdowns, line_chart

MAX_COMPARE = 6
PCT_METRICS = {"total_return", "cagr", "annual_volatility", "max_drawdown", "alpha", "tracking_error"}


def runs_visible_to(user):
    """Runs tied to no portfolio are research every desk user sees; a portfolio's runs follow the portfolio."""
    from portfolio_app.selectors import portfolio_ids_visible_to

    return ScenarioRun.objects.filter(Q(portfolio__isnull=True) | Q(portfolio_id__in=portfolio_ids_visible_to(user)))


def run_payload(run: ScenarioRun, *, series: bool = False) -> dict[str, Any]:
    out = {
        "id": run.pk, "kind": run.kind, "name": run.name, "strategy": run.strategy, "params": run.params,
        "status": run.status, "progress": run.progress, "started_at": run.started_at, "finished_at": run.finished_at,
        "final_value": None if run.final_value is None else str(run.final_value), "metrics": run.metrics,
        "summary": run.summary, "error": run.error, "portfolio": run.portfolio.name if run.portfolio_id else None,
        "created_at": run.created_at,
    }
    if series:
        out["equity"] = [{"date": d.isoformat(), "equity": str(e), "benchmark": None if b is None else str(b)}
                         for d, e, b in equity_points(run)]
    return out


def equity_points(run: ScenarioRun) -> list[tuple]:
    return list(ScenarioEquity.objects.filter(run=run).order_by("date").values_list("date", "equity", "benchmark"))


def trades_of(run: ScenarioRun) -> list[dict[str, Any]]:
    return list(ScenarioTrade.objects.filter(run=run).order_by("date", "id").values(
        "date", "symbol", "side", "qty", "price", "commission", "slippage", "reference_price", "weight_after",
        "order_id"))


# ---------------------------------------------------------------------------
# Charts and tables for the pages


def run_charts(run: ScenarioRun, points: Sequence[tuple] | None = None) -> dict[str, Any]:
    points = equity_points(run) if points is None else points
    dates = [d for d, _, _ in points]
    eq = [float(e) for _, e, _ in points]
    bench = [float(b) if b is not None else None for _, _, b in points]
    series = {"equity": eq}
    if any(b is not None for b in bench):
        series["benchmark"] = bench
    return {
        "equity": line_chart(dates, series),
        "drawdown": line_chart(dates, {"equity": drawdowns(eq), **({"benchmark": drawdowns(bench)}
                                                                    if "benchmark" in series else {})},
                               kind="pct", baseline=0.0, height=140),
    }


def metric_rows(columns: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of (metric, [formatted value per run]) in ``METRIC_NAMES`` order."""
    table = metrics_table({name: {k: (math.nan if v is None else v) for k, v in m.items()}
                           for name, m in columns.items()}) if columns else pd.DataFrame()
    rows = []
    for metric in table.index:
        vals = []
        for name in table.columns:
            v = table.at[metric, name]
            vals.append("—" if v != v else (f"{v * 100:.2f}%" if metric in PCT_METRICS
                                            else (f"{v:,.2f}" if metric == "total_costs" else f"{v:.3f}")))
        rows.append({"metric": metric.replace("_", " "), "key": metric, "values": vals})
    return rows


def compare_runs(runs: Sequence[ScenarioRun]) -> dict[str, Any]:
    """Metrics side by side, equity curves rebased to 1, drawdowns, and for a backtest + paper pair the attribution."""
    labels = {r.pk: f"#{r.pk} {r.name or r.strategy}" for r in runs}
    curves: dict[str, pd.Series] = {}
    for r in runs:
        pts = equity_points(r)
        if pts:
            s = pd.Series([float(e) for _, e, _ in pts], index=pd.DatetimeIndex([d for d, _, _ in pts]))
            curves[labels[r.pk]] = s / s.iloc[0]
    frame = pd.DataFrame(curves).sort_index() if curves else pd.DataFrame()
    dates = [ts.date() for ts in frame.index]
    series = {k: [None if v != v else float(v) for v in frame[k]] for k in frame.columns}
    out = {
        "runs": [run_payload(r) for r in runs],
        "labels": [labels[r.pk] for r in runs],
        "metrics": {labels[r.pk]: r.metrics for r in runs},
        "metric_rows": metric_rows({labels[r.pk]: r.metrics for r in runs}),
        "equity_chart": line_chart(dates, series, kind="ratio"),
        "drawdown_chart": line_chart(dates, {k: drawdowns(v) for k, v in series.items()}, kind="pct", baseline=0.0,
                                     height=140),
        "curves": {k: [{"date": d.isoformat(), "value": v} for d, v in zip(dates, vals) if v is not None]
                   for k, vals in series.items()},
        "attribution": None,
    }
    bt = next((r for r in runs if r.kind == ScenarioRun.Kind.BACKTEST), None)
    paper = next((r for r in runs if r.kind == ScenarioRun.Kind.PAPER), None)
    if bt and paper:
        out["attribution"] = divergence(bt, paper)
    return out


def divergence(backtest: ScenarioRun, paper: ScenarioRun) -> dict[str, Any]:
    """Per-order attribution of backtest vs paper over the dates both cover (``scenarios.attribution``)."""
    from execution_app.scenarios.attribution import attribute_divergence
    from market_app.selectors import latest_closes

    p_dates = ScenarioEquity.objects.filter(run=paper).order_by("date").values_list("date", flat=True)
    b_dates = ScenarioEquity.objects.filter(run=backtest).order_by("date").values_list("date", flat=True)
    if not p_dates or not b_dates:
        return {"rows": [], "totals": {}, "matched": 0, "unmatched": 0, "method": "", "period": None}
    lo, hi = max(p_dates.first(), b_dates.first()), min(p_dates.last(), b_dates.last())
    bt = ScenarioTrade.objects.filter(run=backtest, date__gte=lo, date__lte=hi)
    pp = ScenarioTrade.objects.filter(run=paper, date__gte=lo, date__lte=hi)
    symbols = set(bt.values_list("symbol", flat=True)) | set(pp.values_list("symbol", flat=True))
    from market_app.models import Instrument

    ids = dict(Instrument.objects.filter(symbol__in=symbols).values_list("id", "symbol"))
    marks = {ids[i]: px for i, px in latest_closes(ids.keys(), hi).items()}
    result = attribute_divergence(list(bt.values()), list(pp.values()), end_marks=marks)
    result["period"] = {"start": lo.isoformat(), "end": hi.isoformat()}
    return result


# ---------------------------------------------------------------------------
# CSV


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else (str(v) if isinstance(v, Decimal) else v) for v in row])
    return buf.getvalue()


def equity_csv(run: ScenarioRun) -> str:
    return _csv(("date", "equity", "benchmark"), ((d.isoformat(), e, b) for d, e, b in equity_points(run)))


def trades_csv(run: ScenarioRun) -> str:
    cols = ("date", "symbol", "side", "qty", "price", "commission", "slippage", "reference_price", "weight_after",
            "order_id")
    return _csv(cols, ((t["date"].isoformat(), *[t[c] for c in cols[1:]]) for t in trades_of(run)))


def metric_names() -> tuple[str, ...]:
    return METRIC_NAMES
