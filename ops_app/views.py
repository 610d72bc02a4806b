"""The Monitoring page (charts of the last hour, resources, backups, workers, alerts, rules, rollout),
and the health and metrics endpoints.

Thin: authorise, call a selector or a service, render.  The charts are drawn by
``static/js/monitoring.js`` from ``monitoring/data/`` (JSON, polled every 10 s and
re-fetched on every alert event).  Admins also edit alert rules and switch portfolios
and agents between live and shadow here.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponseForbidden, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from desk.errors import Forbidden
from desk.foureyes import OwnRequest
from desk import roles
from desk.web import desk_page
from ops_app.forms import AlertRuleForm
from ops_app.health import readiness

log = logging.getLogger(__name__)
_last_probe = 0.0  # per-process throttle of the fallback probe (a cache, not shared state)


def _alerts(limit: int = 50):
    from risk_app.models import Alert

    active = list(Alert.objects.filter(status=Alert.Status.ACTIVE).select_related("portfolio").order_by("-raised_at")[:200])
    history = list(Alert.objects.filter(status=Alert.Status.RESOLVED).order_by("-resolved_at", "-id")[:limit])
    return active, history


def _alert_row(a) -> dict:
    return {"id": a.pk, "kind": a.kind, "severity": a.severity, "message": a.message, "count": a.count,
            "status": a.status, "raised_at": a.raised_at, "updated_at": a.updated_at, "resolved_at": a.resolved_at}


def _workers() -> tuple[list[dict], str | None]:
    from ops_app.alert_rules.series import workers_list

    try:
        return workers_list(), None
    except Exception as exc:
        return [], f"Redis does not answer ({type(exc).__name__}): worker heartbeats unavailable"


def _backup_row(b) -> dict:
    from pathlib import Path

    return {"started_at": b.started_at, "status": b.status, "trigger": b.trigger, "file": Path(b.path).name, "path": b.path,
            "size_bytes": b.size_bytes, "sha256": b.sha256, "duration_s": b.duration_s, "error": b.error,
            "pruned": b.pruned_at is not None}


def _backups() -> dict:
    from django.conf import settings

    from ops_app.backup import backup_age, backups_recent

    age = backup_age()
    return {"age_s": age["age_s"], "interval_s": age["interval_s"], "interval_min": age["interval_s"] / 60,
            "keep": getattr(settings, "DESK_BACKUP_KEEP", 48),
            "last": _backup_row(age["last"]) if age["last"] else None, "recent": [_backup_row(b) for b in backups_recent(8)]}


@desk_page
def monitoring_page(request):
    from ops_app.rollout import agent_modes, mode_changes
    from ops_app.models import AlertRule
    from ops_app.resources import resources_snapshot

    active, history = _alerts()
    workers, workers_error = _workers()
    rules = list(AlertRule.objects.all())
    for r in rules:
        r.params_json = json.dumps(r.params or {})
    from ops_app.rollout.selectors import rollout_rows

    context = {"active": active, "history": history, "workers": workers, "workers_error": workers_error,
               "rules": rules, "is_admin": roles.is_admin(request.user),
               "is_risk_officer": roles.is_risk_officer(request.user),
               "resources": resources_snapshot(), "backups": _backups(), "rollouts": rollout_rows(request.user)}
    if context["is_admin"]:
        from signals_app.models import Agent
        from portfolio_app.models import Portfolio

        modes = agent_modes()
        context.update({
            "rule_form": AlertRuleForm(), "portfolios": Portfolio.objects.all(),
            "agents": [(a, modes.get(a.pk, "live")) for a in Agent.objects.all()], "mode_changes": mode_changes(),
        })
    return render(request, "execution/monitoring.html", context)


def _fills_per_minute(minutes: int = 60) -> dict[int, int]:
    from orders_app.models import Fill

    since = timezone.now() - timedelta(minutes=minutes)
    counts: dict[int, int] = {}
    for t in Fill.objects.filter(created_at__gte=since).values_list("created_at", flat=True).iterator():
        m = int(t.timestamp() // 60) * 60
        counts[m] = counts.get(m, 0) + 1
    return counts


def _probe_if_evaluation_stalled() -> None:
    """When the beat task has not evaluated for a while (no worker, Redis down), evaluate the
    probe kinds here: an ASGI process can still store the alert (and say it on this page)."""
    global _last_probe
    from django.conf import settings

    from ops_app.alert_rules.rules import LAST_KEY, PROBE_KINDS, alert_rules_evaluate

    now = time.time()
    if now - _last_probe < 30:
        return
    stale_after = 2.5 * getattr(settings, "DESK_ALERT_EVAL_SECONDS", 10.0)
    try:
        from desk.redis import get_redis

        last = float(get_redis().get(LAST_KEY) or 0)
    except Exception:
        last = 0.0
    if now - last < stale_after:
        return
    _last_probe = now
    try:
        alert_rules_evaluate(kinds=PROBE_KINDS)
    except Exception:
        log.exception("fallback alert probe failed")


@never_cache
@desk_page
def monitoring_data(request):
    from ops_app.alert_rules.series import series_read

    _probe_if_evaluation_stalled()
    try:
        rows, error = series_read(60), None
    except Exception as exc:
        rows, error = [], f"Redis does not answer ({type(exc).__name__}): no series"
    fills = _fills_per_minute()
    points = [{k: v for k, v in r.items() if k != "latencies"} | {"fills": fills.get(r["t"], 0)} for r in rows]
    workers, workers_error = _workers()
    active, history = _alerts(20)
    from desk.events import jsonable

    from ops_app.resources import resources_snapshot

    return JsonResponse(jsonable({
        "now": time.time(), "points": points, "error": error, "workers": workers, "workers_error": workers_error,
        "active": [_alert_row(a) for a in active], "history": [_alert_row(a) for a in history],
        "resources": resources_snapshot(), "backups": _backups(),
    }))


def _admin_post(view):
    @desk_page
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            return view(request, *args, **kwargs)
        except Forbidden as exc:  # the services decide who may
            return HttpResponseForbidden(str(exc))

    wrapper.__name__ = view.__name__
    return wrapper


@_admin_post
def alert_rule_save(request, rule_id: int | None = None):
    from ops_app.alert_rules.manage import alert_rule_save as save

    saved, errors = save(actor=request.user, rule_id=rule_id, data=request.POST)
    if saved is not None:
        messages.success(request, f"Alert rule '{saved.name}' saved.")
    else:
        messages.error(request, "Alert rule not saved: " + "; ".join(f"{f}: {' '.join(e)}" for f, e in errors.items()))
    return redirect("monitoring")


@_admin_post
def mode_switch(request):
    from ops_app.rollout import RolloutError, RolloutForbidden, agent_mode_set, portfolio_mode_set

    target, mode, reason = request.POST.get("target"), request.POST.get("mode", ""), request.POST.get("reason", "")
    try:
        target_id = int(request.POST.get("id", ""))
        if target == "portfolio":
            portfolio_mode_set(actor=request.user, portfolio_id=target_id, mode=mode, reason=reason)
        elif target == "agent":
            agent_mode_set(actor=request.user, agent_id=target_id, mode=mode, reason=reason)
        else:
            raise RolloutError("target must be portfolio or agent")
        messages.success(request, f"{target} {target_id} is now {mode}.")
    except RolloutForbidden as exc:
        return HttpResponseForbidden(str(exc))
    except (ValueError, RolloutError) as exc:
        messages.error(request, f"Mode not changed: {exc}")
    return redirect("monitoring")


@_admin_post
def rollout_action(request, rollout_id: int, action: str):
    """The rollout forms: request the next stage (admins), roll back (admins, risk officers), abandon (admins)."""
    from desk.errors import DomainError
    from ops_app.rollout import stages

    reason = request.POST.get("reason", "")
    try:
        if action == "promote":
            promo = stages.rollout_promotion_request(actor=request.user, rollout_id=rollout_id, reason=reason,
                                                     canary_ids=request.POST.getlist("canary"))
            messages.success(request, f"Promotion to {promo.to_stage} requested: a risk officer signs it off.")
        elif action == "rollback":
            stages.rollout_roll_back(actor=request.user, rollout_id=rollout_id, reason=reason)
            messages.success(request, "Rolled back: the portfolios run their incumbent versions again.")
        elif action == "abandon":
            stages.rollout_abandon(actor=request.user, rollout_id=rollout_id, reason=reason)
            messages.success(request, "Rollout abandoned.")
        else:
            return HttpResponseNotAllowed(["POST"])
    except Forbidden:
        raise
    except DomainError as exc:
        messages.error(request, f"Not done: {exc}")
    return redirect("monitoring")


@_admin_post
def rollout_promotion_decide(request, promotion_id: int):
    """A risk officer approves or rejects a promotion (never their own request)."""
    from desk.errors import DomainError
    from ops_app.rollout import stages

    approve = request.POST.get("decision") == "approve"
    try:
        promo = stages.rollout_promotion_decide(actor=request.user, promotion_id=promotion_id, approve=approve,
                                                reason=request.POST.get("reason", ""))
        messages.success(request, f"Promotion to {promo.to_stage} {promo.status}.")
    except OwnRequest as exc:  # the page says it; a role refusal stays a 403
        messages.error(request, f"Not decided: {exc}")
    except Forbidden:
        raise
    except DomainError as exc:
        messages.error(request, f"Not decided: {exc}")
    return redirect("monitoring")


# --- Health and metrics endpoints ------------------------------------------------------


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    ok, components = readiness()
    failing = [name for name, r in components.items() if not r["ok"]]
    body = {"status": "ok" if ok else "unavailable", "failing": failing, "components": components}
    return JsonResponse(body, status=200 if ok else 503)


def metrics(request):
    """Prometheus scrape endpoint: a bearer token (DESK_METRICS_TOKEN) or an allowed network."""
    import hmac
    import ipaddress

    from django.conf import settings
    from django.http import HttpResponse
    from django_prometheus.exports import ExportToDjangoView

    token = settings.DESK_METRICS_TOKEN
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    allowed = bool(token) and hmac.compare_digest(auth, f"Bearer {token}")
    if not allowed:
        try:
            addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
            allowed = any(addr in ipaddress.ip_network(n, strict=False) for n in settings.DESK_METRICS_ALLOWED_NETWORKS)
        except ValueError:
            allowed = False
    if not allowed:
        return HttpResponse("metrics: not from this address without the token\n", status=403, content_type="text/plain")
    from ops_app.health import prometheus_dead_processes_mark
    from ops_app.resources import metrics_text

    prometheus_dead_processes_mark()
    response = ExportToDjangoView(request)
    try:  # the desk's resources as seen now, every process's own sample (a source down leaves its part out)
        response.content = response.content + metrics_text()
    except Exception:
        log.exception("resource metrics not collected")
    return response
