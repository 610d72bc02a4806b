"""Venue administration (services): admins add and change venues; every change is kept with who, when,
before and after (django-simple-history) and why. A change to a FIX venue's session settings asks the
gateway to reload its sessions (a QuickFIX SocketInitiator's sessions are fixed when it starts)."""

from __future__ import annotations

from django.db import transaction

from desk import roles
from desk.errors import Forbidden
from fix_app.forms import SESSION_FIELDS, VenueForm
from fix_app.services import fix_sessions_reload
from orders_app.models import Venue

@transaction.atomic
def venue_save(*, actor, venue_id: int | None, data) -> tuple[Venue | None, dict[str, list[str]]]:
    """Create or change a venue (admins only: ``Forbidden``): ``(venue, {})``, or ``(None, errors per field)``
    with nothing saved."""
    if not roles.is_admin(actor):
        raise Forbidden("Only admins add or change venues.")
    instance = Venue.objects.select_for_update().filter(pk=venue_id).first() if venue_id else None
    if venue_id and instance is None:
        return None, {"venue": [f"No venue {venue_id}."]}
    before = {f: getattr(instance, f) for f in SESSION_FIELDS} if instance else {}
    form = VenueForm(data, instance=instance)
    if not form.is_valid():
        return None, {f: [str(e) for e in errs] for f, errs in form.errors.items()}
    venue = form.save(commit=False)
    venue._history_user = actor
    venue._change_reason = form.cleaned_data["reason"]
    venue.save()
    after = {f: getattr(venue, f) for f in SESSION_FIELDS}
    if (venue.kind == Venue.Kind.FIX or before.get("kind") == Venue.Kind.FIX) and before != after:
        fix_sessions_reload()
    return venue, {}


def venue_history(venue: Venue, limit: int = 20) -> list[dict]:
    """Each change of ``venue``, newest first: when, who, why, and the fields that changed (old → new)."""
    rows = list(venue.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1])
    out = []
    for newer, older in zip(rows, rows[1:] + [None]):
        changed = []
        if older is not None:
            delta = newer.diff_against(older)
            changed = [(c.field, c.old, c.new) for c in delta.changes if c.field != "updated_at"]
        out.append({"when": newer.history_date, "who": newer.history_user.username if newer.history_user else "—",
                    "why": newer.history_change_reason or "", "type": newer.get_history_type_display(), "changes": changed})
    return out[:limit]
