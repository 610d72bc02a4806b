"""Pages and health endpoints (thin: authorise, call a selector, render)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseForbidden, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from execution_app import roles
from execution_app.health import readiness
from portfolio_app.selectors import portfolios_visible_to


def desk_page(view):
    """Login required, and only for people (API clients use their token on the API)."""

    @login_required
    def wrapper(request, *args, **kwargs):
        if not roles.may_use_dashboard(request.user):
            return HttpResponseForbidden("API clients use the API with their token; the dashboard is for desk users.")
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    ok, components = readiness()
    failing = [name for name, r in components.items() if not r["ok"]]
    body = {"status": "ok" if ok else "unavailable", "failing": failing, "components": components}
    return JsonResponse(body, status=200 if ok else 503)


@desk_page
def overview(request):
    """The trader's landing page: one portfolio at the market time (``?id=`` picks which)."""
    from execution_app.clock_service import get_clock
    from execution_app.overview_selectors import overview_state

    market_now = get_clock().market_now()
    visible = list(portfolios_visible_to(request.user))
    wanted = request.GET.get("id")
    current = next((p for p in visible if str(p.pk) == wanted), visible[0] if visible else None)
    state = None
    if current is not None:
        from risk_app.selectors import risk_snapshot
        from risk_app.services import risk_monitor_recompute

        if risk_snapshot(current.pk) is None:  # as the Risk page does: the first look computes it
            risk_monitor_recompute(portfolio_id=current.pk)
        state = overview_state(current, market_now=market_now, user=request.user)
    return render(request, "execution/overview.html", {
        "portfolios": visible, "current": current, "s": state, "market_now": market_now,
    })


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
    return ExportToDjangoView(request)
