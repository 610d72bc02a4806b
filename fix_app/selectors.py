"""Reads for the Venues and Reconciliation pages."""

from __future__ import annotations


def session_states(venues) -> dict[str, dict]:
    """Each FIX venue's session as the gateway last recorded it (by venue code); filled in by the gateway's model."""
    return {}


def gateway_state() -> dict:
    return {}
