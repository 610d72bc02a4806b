"""The Reconciliation page (every desk user reads it; admins and risk officers press "Reconcile now" for a FIX
venue and resolve a break with a note) - thin: authorise, call a service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from desk.errors import Forbidden, Invalid
from desk.web import desk_page
from fix_app import recon_selectors as sel
from fix_app import recon_services as rs


@desk_page
def reconciliation_page(request):
    context = {
        "venues": sel.fix_venues_state(),
        "runs": sel.runs_recent(limit=50),
        "breaks": sel.breaks_list(limit=200),
        "can_act": rs.may_reconcile(request.user),
        "timeout_s": rs.timeout_s(),
    }
    return render(request, "fix/reconciliation.html", context)


@desk_page
def reconcile_now_view(request, venue_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        run = rs.reconciliation_request(venue_id=venue_id, actor=request.user)
    except Forbidden as exc:
        return HttpResponseForbidden(str(exc))
    except Invalid as exc:
        messages.error(request, f"Not reconciled: {exc}")
        return redirect("reconciliation")
    messages.success(request, f"Reconciliation of {run.venue.code} asked for (run #{run.pk}).")
    return redirect("reconciliation")


@desk_page
def break_resolve_view(request, break_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        brk = rs.break_resolve(break_id=break_id, actor=request.user, note=request.POST.get("note", ""))
    except Forbidden as exc:
        return HttpResponseForbidden(str(exc))
    except Invalid as exc:
        messages.error(request, f"Break not resolved: {exc}")
        return redirect("reconciliation")
    messages.success(request, f"Break #{brk.pk} resolved.")
    return redirect("reconciliation")
