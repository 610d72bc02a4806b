"""Telling risk that an order's unfilled rest no longer counts (the kernel port ``desk.ports.ExposureListener``).

The pre-trade gate counts a parent order's unfilled rest in the desk-wide limits' books when it
admits it.  When the rest leaves outside the gate (cancelled, expired, rejected, or an amend changed
the quantity), the listener re-values the portfolio after commit: never before, so a rollback
cannot release room that is still taken.  Fills need nothing (the rest becomes position at the same
mark); child orders neither (the parent's rest is what counts).
"""

from __future__ import annotations

from django.db import transaction

from desk import ports
from orders_app import states

RELEASING = frozenset({states.CANCELED, states.EXPIRED, states.REJECTED, states.UPDATED})


def exposure_release_on_commit(order, event: str) -> None:
    """After commit, tell the exposure listener when ``event`` takes a parent order's rest out of the book."""
    if order.parent_id is not None or event not in RELEASING:
        return
    portfolio_id = order.portfolio_id
    # Robust: the order change is committed; a failed release leaves the desk looking fuller (safe) until the refresh.
    transaction.on_commit(lambda: ports.exposure_listener().released(portfolio_id=portfolio_id), robust=True)
