"""Reads for the Venues page."""

from __future__ import annotations

from django.db.models import Max

from fix_app.models import FixSession, FixSequenceReset


def session_states(venues) -> dict[str, dict]:
    """Each FIX venue's session as the gateway last recorded it (by venue code): logged on, down since,
    next sequence numbers, when the sessions were loaded, the last error and the last sequence reset."""
    codes = [v.code for v in venues if v.kind == "fix"]
    resets = {}
    for r in FixSequenceReset.objects.filter(venue__code__in=codes).select_related("actor", "venue").order_by("id"):
        resets[r.venue.code] = r
    out = {}
    for s in FixSession.objects.filter(venue__code__in=codes).select_related("venue"):
        out[s.venue.code] = {
            "logged_on": s.logged_on, "down_since": s.down_since, "next_sender_seq": s.next_sender_seq,
            "next_target_seq": s.next_target_seq, "loaded_at": s.loaded_at, "last_error": s.last_error,
            "last_reset": resets.get(s.venue.code),
        }
    return out


def gateway_state() -> dict:
    """When the gateway last (re)loaded its sessions."""
    return {"loaded_at": FixSession.objects.aggregate(at=Max("loaded_at"))["at"]}
