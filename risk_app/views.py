"""The Risk page and the limit history page (thin: authorise, call a service or selector, render).

Every desk user sees the page; only risk officers see the controls, and the
services refuse everyone else's POST with 403 whatever the form says.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from desk.web import desk_page
from market_app.marks import MissingMark
from portfolio_app.selectors import portfolios_visible_to
from risk_app import selectors as sel, services as svc
from risk_app.checks import KINDS, SCOPES

EXPOSURE_KEYS = (
    ("nav", "NAV", "money"), ("gross", "Gross", "money"), ("net", "Net", "money"), ("leverage", "Leverage", "x"),
    ("var_hist_95", "VaR 95 hist", "money"), ("var_hist_99", "VaR 99 hist", "money"),
    ("cvar_hist_95", "CVaR 95 hist", "money"), ("cvar_hist_99", "CVaR 99 hist", "money"),
    ("var_param_95", "VaR 95 param", "money"), ("var_param_99", "VaR 99 param", "money"),
    ("cvar_param_95", "CVaR 95 param", "money"), ("cvar_param_99", "CVaR 99 param", "money"),
    ("drawdown", "Drawdown", "pct"), ("max_concentration", "Max weight", "pct"),
    ("max_sector_concentration", "Max sector", "pct"),
)


def _selected(request, portfolios):
    wanted = request.GET.get("portfolio") or request.POST.get("portfolio")
    for p in portfolios:
        if str(p.pk) == str(wanted):
            return p
    return portfolios[0] if portfolios else None


def _page(request, *, errors: dict | None = None, values: dict | None = None, status: int = 200):
    portfolios = list(portfolios_visible_to(request.user))
    current = _selected(request, portfolios)
    snap = valuation_error = None
    if current is not None:
        snap = sel.risk_snapshot(current.pk)
        if snap is None:
            try:
                svc.risk_monitor_recompute(portfolio_id=current.pk)
            except MissingMark as e:  # say which instrument cannot be valued rather than show wrong figures
                valuation_error = str(e)
            snap = sel.risk_snapshot(current.pk)
    report = snap.report if snap else {}
    names = {p.pk: p.name for p in portfolios}
    rows = sel.limit_rows(snap.utilisation if snap else {}, names)
    visible = {p.pk for p in portfolios}
    rows = [r for r in rows if r.limit.scope != "portfolio" or not (r.limit.scope_key.isascii() and r.limit.scope_key.isdigit()) or int(r.limit.scope_key) in visible]
    for r in rows:
        r.errors = (errors or {}).get(f"limit-{r.limit.pk}", {})
    context = {
        "portfolios": portfolios,
        "current": current,
        "states": sel.trading_states(portfolios),
        "state_changes": sel.state_changes(10),
        "halt_cancels": sel.halt_cancels(),
        "rows": rows,
        "pending": sel.pending_changes(),
        "snapshot": snap,
        "valuation_error": valuation_error,
        "exposure": [(label, report.get(key), fmt) for key, label, fmt in EXPOSURE_KEYS if key in report],
        "sectors": sorted((report.get("sector_weights") or {}).items(), key=lambda kv: -(kv[1] or 0)),
        "alerts": sel.alerts_list(portfolio_ids=None if svc.may_manage_risk(request.user) else list(visible), limit=50),
        "can_edit": svc.may_manage_risk(request.user),
        "kinds": [(k, info.label, info.unit) for k, info in KINDS.items()],
        "scopes": SCOPES,
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "risk/risk.html", context, status=status)


def risk_write(view):
    """POST only; the service's refusals mapped: a role's a 403 (nothing changed), a four-eyes one
    shown on the page, bad input shown by its form."""

    @desk_page
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            note = view(request, *args, **kwargs)
        except svc.RiskRoleRefused as exc:
            return HttpResponseForbidden(str(exc))
        except svc.RiskInvalid as exc:
            form = request.POST.get("form", "")
            return _page(request, errors={form: exc.errors}, values={form: request.POST}, status=400)
        except svc.RiskPermissionDenied as exc:
            messages.error(request, str(exc))
            return _back(request, status=403)
        except svc.LimitChangeStale as exc:
            messages.error(request, str(exc))
            return _back(request, status=409)
        except svc.RiskNotFound as exc:
            raise Http404(str(exc)) from exc
        if note:
            messages.success(request, note)
        return _back(request)

    return wrapper


def _back(request, status: int = 302):
    url = reverse("risk")
    pid = request.POST.get("portfolio")
    if pid:
        url += f"?portfolio={pid}"
    if status == 403:
        response = redirect(url)
        response.status_code = 303
        return response
    return redirect(url)


@desk_page
def risk_page(request):
    return _page(request)


@risk_write
def state_set(request):
    res = svc.trading_state_set(scope=request.POST.get("scope", ""), state=request.POST.get("state", ""),
                                actor=request.user, reason=request.POST.get("reason", ""))
    if res.applied:
        return f"Trading is now {res.state} ({res.scope})."
    return f"Re-arm to {res.rearm.to_state} requested: a second risk officer must confirm."


@risk_write
def state_confirm(request):
    res = svc.trading_state_rearm_confirm(rearm_id=_int(request.POST.get("rearm_id")), actor=request.user,
                                          reason=request.POST.get("reason", ""))
    return f"Trading is now {res.state} ({res.scope})."


@risk_write
def state_reject(request):
    svc.trading_state_rearm_reject(rearm_id=_int(request.POST.get("rearm_id")), actor=request.user,
                                   reason=request.POST.get("reason", ""))
    return "Re-arm request rejected: trading stays HALTED."


def _limit_values(post) -> dict:
    values = {}
    for f in ("name", "scope", "scope_key", "kind", "threshold", "action", "note"):
        if f in post:
            values[f] = post.get(f, "").strip()
    if "enabled_present" in post:
        values["enabled"] = post.get("enabled") == "on"
    if "symbols" in post:
        values["params"] = {"symbols": [s.strip().upper() for s in post.get("symbols", "").replace(",", " ").split() if s.strip()]}
    elif "window_s" in post and post.get("window_s"):
        values["params"] = {"window_s": _num(post.get("window_s"), "window_s")}
    elif "method" in post and post.get("method"):
        values["params"] = {"method": post.get("method")}
    return values


@risk_write
def limit_create(request):
    row = svc.limit_create(actor=request.user, reason=request.POST.get("reason", ""), **_limit_values(request.POST))
    return f"Limit '{row.name}' created."


@risk_write
def limit_edit(request, limit_id: int):
    res = svc.limit_update(limit_id=limit_id, actor=request.user, reason=request.POST.get("reason", ""),
                           **_limit_values(request.POST))
    if res.applied:
        return f"Limit '{res.limit.name}' tightened: in force now."
    return f"Limit '{res.limit.name}': loosening waits for a second risk officer's approval."


@risk_write
def limit_delete(request, limit_id: int):
    res = svc.limit_delete(limit_id=limit_id, actor=request.user, reason=request.POST.get("reason", ""))
    return f"Deleting '{res.limit.name}' waits for a second risk officer's approval."


@risk_write
def change_approve(request, change_id: int):
    svc.limit_change_approve(change_id=change_id, actor=request.user, reason=request.POST.get("reason", ""))
    return "Change approved: in force now."


@risk_write
def change_reject(request, change_id: int):
    svc.limit_change_reject(change_id=change_id, actor=request.user, reason=request.POST.get("reason", ""))
    return "Change rejected."


@desk_page
def alert_acknowledge(request, alert_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not sel.alert_visible_to(request.user, alert_id):
        raise Http404(f"No alert {alert_id}.")
    try:
        svc.alert_acknowledge(alert_id=alert_id, actor=request.user)
    except svc.RiskNotFound as exc:
        raise Http404(str(exc)) from exc
    return _back(request)


@desk_page
def limit_history(request, limit_id: int):
    rows = sel.limit_history(limit_id)
    if not rows:
        raise Http404(f"No limit {limit_id}.")
    limit = sel.limit_get(limit_id)
    return render(request, "risk/limit_history.html", {
        "rows": rows, "limit": limit, "name": limit.name if limit else sel.limit_history_name(limit_id), "limit_id": limit_id,
    })


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise svc.RiskInvalid({"id": "A request id is required."}) from None


def _num(value, field: str) -> float:
    try:
        return float(Decimal(str(value)))
    except Exception:
        raise svc.RiskInvalid({field: "Must be a number."}) from None
