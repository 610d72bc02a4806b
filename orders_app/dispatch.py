"""Enqueueing the routing tasks, always after commit (STYLE.md rule 7).

The callbacks are ``robust``: when the broker is unreachable (Redis restarting), the
order is already committed and the request that placed it must not fail for it; the
error is logged and the sweeper (``orders_sweep``) enqueues the order again once it is
overdue, so a lost message loses no order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from desk.tasks import enqueue_on_commit

# A Redis restart takes about a second: ride it out (~1.5 s at most) before giving up to the sweeper.
RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
# The routing tasks store no result (``ignore_result=True``), but a task sent by name is unknown to the sender, which
# would otherwise subscribe to its result on the Redis backend (SUBSCRIBE, then UNSUBSCRIBE when the AsyncResult is
# dropped): two round trips per order for a result never written. Fire and forget.
SEND = {"robust": True, "retry_policy": RETRY_POLICY, "ignore_result": True}


def cancels_after_commit(portfolio_ids, *, actor_id: int | None, reason: str) -> None:
    """Cancel every open order of each portfolio on the control queue (``settings.DESK_CONTROL_QUEUE``), once the
    caller's transaction commits: its own worker serves it, never behind a backlog of routing work. One task per
    portfolio, so a desk-wide halt is worked in parallel across portfolios and each locks only its own book."""
    for pid in sorted(set(portfolio_ids)):
        enqueue_on_commit("orders_app.tasks.control_orders_cancel", (pid, actor_id, reason), **SEND)


def route_after_commit(parent_id: int) -> None:
    enqueue_on_commit("orders_app.tasks.order_route", (parent_id,), **SEND)


def work_after_commit(child_id: int, seq: int, eta: datetime | None = None) -> None:
    """Work the child at ``eta`` (wall time), or sooner: never further out than ``DESK_MAX_ETA_SECONDS``, so the
    broker never redelivers a message held for its ETA; a child woken before it is due re-schedules itself."""
    if eta is not None:
        eta = min(eta, timezone.now() + timedelta(seconds=settings.DESK_MAX_ETA_SECONDS))
    enqueue_on_commit("orders_app.tasks.child_execute", (child_id, seq), eta=eta, **SEND)
