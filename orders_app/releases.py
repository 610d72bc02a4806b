"""Telling risk that an order's unfilled rest no longer counts (the kernel port ``desk.ports.ExposureListener``).

The pre-trade gate counts a parent order's unfilled rest in the desk-wide limits' books when it
admits it.  When the rest leaves outside the gate (cancelled, expired, rejected, or an amend changed
the quantity), the listener re-values the portfolio after commit: never before, so a rollback
cannot release room that is still taken.  Fills need nothing (the rest becomes position at the same
mark); child orders neither (the parent's rest is what counts).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from desk import ports
from orders_app import states

RELEASING = frozenset({states.CANCELED, states.EXPIRED, states.REJECTED, states.UPDATED})
log = logging.getLogger(__name__)
_batch: contextvars.ContextVar[set[int] | None] = contextvars.ContextVar("desk_release_batch", default=None)


@contextmanager
def releases_batched() -> Iterator[None]:
    """Inside, each committed release only notes its portfolio; on the way out each portfolio is re-valued
    once (a HALT's hundred cancels of one book: one re-valuation, not a hundred). Late is safe: the desk
    looks fuller meanwhile. Inside a transaction nothing is batched (its commit comes after the way out)."""
    if connection.in_atomic_block:
        yield
        return
    pending: set[int] = set()
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
        for pid in sorted(pending):
            try:
                ports.exposure_listener().released(portfolio_id=pid)
            except Exception:  # as the robust on_commit below: the refresh catches up
                log.exception("exposure release failed", extra={"portfolio_id": pid})


def exposure_release_on_commit(order, event: str) -> None:
    """After commit, tell the exposure listener when ``event`` takes a parent order's rest out of the book."""
    if order.parent_id is not None or event not in RELEASING:
        return
    portfolio_id = order.portfolio_id
    batch = _batch.get()
    if batch is not None:
        transaction.on_commit(lambda: batch.add(portfolio_id))
        return
    # Robust: the order change is committed; a failed release leaves the desk looking fuller (safe) until the refresh.
    transaction.on_commit(lambda: ports.exposure_listener().released(portfolio_id=portfolio_id), robust=True)
