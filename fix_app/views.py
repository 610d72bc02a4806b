"""The Venues page (every desk user reads it; admins add and change venues, and reset a FIX session's
sequence numbers) - thin: authorise, call a service or selector, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from desk import roles
from desk.errors import Forbidden, Invalid
from desk.web import desk_page
from fix_app import selectors as sel
from fix_app.venues import venue_history, venue_save
from orders_app.models import Venue


@desk_page
def venues_page(request, *, errors: dict | None = None, values: dict | None = None, status: int = 200):
    venues = list(Venue.objects.order_by("code"))
    sessions = sel.session_states(venues)
    errors = errors or {}
    rows = [{"venue": v, "session": sessions.get(v.code), "history": venue_history(v, 10), "errors": errors.get(f"venue-{v.pk}")}
            for v in venues]
    context = {
        "rows": rows,
        "new_venue": _typed(Venue(), (values or {}).get("venue-new")),
        "kinds": Venue.Kind.choices,
        "can_edit": roles.is_admin(request.user),
        "errors": errors,
        "values": values or {},
        "gateway": sel.gateway_state(),
    }
    return render(request, "fix/venues.html", context, status=status)


def _typed(venue: Venue, data) -> Venue:
    """The add form's venue: the model's defaults, or what the admin typed when it came back with errors."""
    if data:
        for name in ("code", "name", "kind", "maker_fee_bps", "taker_fee_bps", "min_fee", "half_spread_bps", "latency_ms",
                     "impact_k", "displayed_share", "fix_begin_string", "fix_sender_comp_id", "fix_target_comp_id",
                     "fix_host", "fix_port", "fix_heartbeat_s"):
            setattr(venue, name, data.get(name, ""))
        venue.enabled = bool(data.get("enabled"))
    return venue


@desk_page
def venue_save_view(request, venue_id: int | None = None):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        saved, errors = venue_save(actor=request.user, venue_id=venue_id, data=request.POST)
    except Forbidden as exc:
        return HttpResponseForbidden(str(exc))
    if saved is None:
        key = f"venue-{venue_id}" if venue_id else "venue-new"
        return venues_page(request, errors={key: errors}, values={key: request.POST}, status=400)
    messages.success(request, f"Venue {saved.code} saved.")
    return redirect("venues")


@desk_page
def sequence_reset_view(request, venue_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not roles.is_admin(request.user):
        return HttpResponseForbidden("Only admins reset a FIX session's sequence numbers.")
    venue = Venue.objects.filter(pk=venue_id).first()
    if venue is None or venue.kind != Venue.Kind.FIX:
        messages.error(request, "Only a FIX venue has sequence numbers to reset.")
        return redirect("venues")
    from fix_app.services import fix_sequence_reset

    try:
        fix_sequence_reset(venue=venue, actor=request.user, reason=request.POST.get("reason", ""))
    except Forbidden as exc:
        return HttpResponseForbidden(str(exc))
    except Invalid as exc:
        messages.error(request, f"Sequence reset not done: {exc}")
        return redirect("venues")
    messages.success(request, f"Sequence reset of {venue.code} requested; the gateway applies it on the next logon.")
    return redirect("venues")
