"""The Agents page: agents, the live signal feed, views per instrument; admins edit agents here."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render

from desk import roles
from signals_app import selectors as sel
from signals_app import services as svc
from signals_app.models import Agent
from signals_app.api import aggregates_body
from desk.web import desk_page

FEED_ROWS = 50
VERSION_ROWS = 20


def _page(request, *, errors: dict[int, dict[str, str]] | None = None, values: dict[int, dict] | None = None, status: int = 200):
    from market_app.clock import get_clock

    clock = get_clock()
    market_now = clock.market_now()
    market_date = clock.market_date()
    rows = sel.agents_overview(user=request.user, market_date=market_date)
    for row in rows:
        # What the edit form shows: the submitted values after a refused edit, else the stored ones.
        v = (values or {}).get(row.agent.id, {})
        row.form_weight = v.get("weight", row.agent.weight)
        row.form_enabled = v.get("enabled", row.agent.enabled)
        row.errors = (errors or {}).get(row.agent.id, {})
    views = aggregates_body(sel.views_as_of(market_now))
    context = {
        "rows": rows,
        "latest": sel.latest_signals(user=request.user, limit=FEED_ROWS),
        "views": views,
        "market_now": market_now,
        "market_date": market_date,
        "can_edit": roles.is_admin(request.user),
        "versions": [(row.agent, list(sel.agent_versions(row.agent.id)[:VERSION_ROWS])) for row in rows],
    }
    return render(request, "execution/agents.html", context, status=status)


@desk_page
def agents_page(request):
    return _page(request)


@desk_page
def agent_edit(request, agent_id: int):
    """POST weight and enabled for one agent (admins); errors are shown next to the fields."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    agent = get_object_or_404(Agent, pk=agent_id)
    weight = request.POST.get("weight", "").strip()
    enabled = request.POST.get("enabled") == "on"
    try:
        svc.agent_update(actor=request.user, agent_id=agent.id, weight=weight, enabled=enabled,
                         reason=request.POST.get("reason", ""))
    except svc.AgentForbidden as exc:
        return HttpResponseForbidden(str(exc))
    except svc.AgentInvalid as exc:
        return _page(request, errors={agent.id: exc.errors}, values={agent.id: {"weight": weight, "enabled": enabled}}, status=400)
    messages.success(request, f"Agent {agent.name} saved: weight {weight}, {'enabled' if enabled else 'disabled'}.")
    return redirect("agents")


@desk_page
def agent_version_restore(request, agent_id: int, number: int):
    """POST: make an earlier version the agent's configuration (admins), with an optional reason."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    agent = get_object_or_404(Agent, pk=agent_id)
    try:
        svc.agent_version_restore(actor=request.user, agent_id=agent.id, number=number, reason=request.POST.get("reason", ""))
    except svc.AgentForbidden as exc:
        return HttpResponseForbidden(str(exc))
    except svc.AgentInvalid as exc:
        messages.error(request, f"Agent {agent.name} not restored: {exc}")
        return redirect("agents")
    messages.success(request, f"Agent {agent.name}: version {number} restored (a new version records it).")
    return redirect("agents")
