"""The Backtests pages (thin: authorise, call a selector or service, render).

- ``/backtests/``: the form (strategy, dates, rebalance, costs), the runs with a
  live progress bar (``run.progress`` events, ``static/js/backtests.js``), tick
  two or more to compare; paper runs started and stopped per portfolio.
- ``/backtests/<id>/``: equity vs benchmark, drawdown, metrics, trades.
- ``/backtests/compare/?ids=1,2``: side by side, and the backtest-vs-paper attribution.
- ``/backtests/<id>/tearsheet/``: one printable page.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from execution_app.scenarios import selectors as sel, services as svc
from desk.interfaces import ConfigError
from execution_app.models import ScenarioRun
from execution_app.scenarios.calendar import FREQUENCIES
from execution_app.scenarios.config import FILLS
from desk.web import desk_page

FORM_FIELDS = ("strategy", "start", "end", "rebalance", "capital", "commission_bps", "slippage_bps", "fill")
FORM_DEFAULTS = {"strategy": "equal_weight", "start": "2015-01-02", "end": "2022-12-28", "rebalance": "monthly",
                 "capital": "1000000", "commission_bps": "5", "slippage_bps": "0", "fill": "close",
                 "algo": "IMMEDIATE", "algo_params": ""}


def _run_params(form: dict) -> dict:
    """The run's ``params`` from the form's algo and its params (JSON); IMMEDIATE with none adds nothing."""
    params: dict = {}
    if form["algo"] and form["algo"].upper() != "IMMEDIATE":
        params["algo"] = form["algo"]
    if form["algo_params"]:
        try:
            params["algo_params"] = json.loads(form["algo_params"])
        except json.JSONDecodeError as e:
            raise ConfigError("params.algo_params", f"not valid JSON ({e.msg})") from None
    return params


def _visible_portfolios(user):
    from portfolio_app.selectors import portfolios_visible_to

    return portfolios_visible_to(user)


def _page_context(request, form: dict, errors: dict) -> dict:
    from orders_app.algos import ALGOS
    from portfolio_app.optimisation import STRATEGIES

    runs = list(sel.runs_visible_to(request.user).select_related("portfolio")[:100])
    portfolios = list(_visible_portfolios(request.user))
    running_paper = {r.portfolio_id: r for r in runs if r.kind == ScenarioRun.Kind.PAPER
                     and r.status == ScenarioRun.Status.RUNNING}
    return {
        "runs": runs, "form": form, "errors": errors, "strategies": STRATEGIES, "frequencies": FREQUENCIES,
        "fills": FILLS, "algos": list(ALGOS), "portfolios": [(p, running_paper.get(p.pk)) for p in portfolios],
    }


@desk_page
def backtests_page(request):
    form, errors = dict(FORM_DEFAULTS), {}
    if request.method == "POST":
        action = request.POST.get("action", "backtest")
        if action == "paper_start":
            portfolio = _visible_portfolios(request.user).filter(pk=request.POST.get("portfolio") or 0).first()
            if portfolio is None:
                raise Http404("no such portfolio")
            run = svc.paper_run_start(portfolio=portfolio, user=request.user)
            messages.info(request, f"Recording {portfolio.name} as paper run #{run.pk}.")
            return redirect("backtests")
        if action == "paper_stop":
            run = sel.runs_visible_to(request.user).filter(pk=request.POST.get("run") or 0, kind="paper").first()
            if run is None:
                raise Http404("no such run")
            svc.paper_run_stop(run_id=run.pk, user=request.user)
            messages.info(request, f"Paper run #{run.pk} stopped.")
            return redirect("backtest-detail", run_id=run.pk)
        form = {k: request.POST.get(k, "").strip() for k in (*FORM_FIELDS, "algo", "algo_params")}
        try:
            values = {**{k: form[k] for k in FORM_FIELDS}, "params": _run_params(form)}
            run = svc.backtest_create(user=request.user, values=values, name=request.POST.get("name", "").strip())
        except ConfigError as e:
            errors[e.field] = e.reason
        else:
            messages.info(request, f"Backtest #{run.pk} queued.")
            return redirect("backtests")
    return render(request, "execution/backtests.html", _page_context(request, form, errors),
                  status=400 if errors else 200)


def _run_or_404(request, run_id: int) -> ScenarioRun:
    run = sel.runs_visible_to(request.user).select_related("portfolio").filter(pk=run_id).first()
    if run is None:
        raise Http404("no such run")
    return run


def _detail_context(request, run_id: int) -> dict:
    run = _run_or_404(request, run_id)
    points = sel.equity_points(run)
    return {
        "run": run, "charts": sel.run_charts(run, points), "metric_rows": sel.metric_rows({"run": run.metrics}),
        "trades": sel.trades_of(run)[:500], "trade_count": run.trades.count(), "points": len(points),
        "summary": run.summary or {}, "run_labels": [f"#{run.pk}"],
    }


@desk_page
def backtest_detail(request, run_id: int):
    return render(request, "execution/backtests_detail.html", _detail_context(request, run_id))


@desk_page
def backtest_tearsheet(request, run_id: int):
    ctx = _detail_context(request, run_id)
    ctx["trades"] = ctx["trades"][:25]
    return render(request, "execution/backtests_tearsheet.html", ctx)


@desk_page
def backtests_compare(request):
    raw = request.GET.getlist("ids") or request.GET.get("ids", "").split(",")
    try:
        ids = list(dict.fromkeys(int(x) for part in raw for x in str(part).split(",") if x.strip()))
    except ValueError:
        raise Http404("ids must be run numbers") from None
    runs = {r.pk: r for r in sel.runs_visible_to(request.user).filter(pk__in=ids)}
    chosen = [runs[i] for i in ids if i in runs][: sel.MAX_COMPARE]
    if len(chosen) < 2:
        messages.info(request, "Tick two or more runs to compare them.")
        return redirect("backtests")
    return render(request, "execution/backtests_compare.html", {"cmp": sel.compare_runs(chosen), "runs": chosen})
