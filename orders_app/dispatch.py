"""Enqueueing the routing tasks, always after commit (STYLE.md rule 7).

The callbacks are ``robust``: when the broker is unreachable (Redis restarting), the
order is already committed and the request that placed it must not fail for it; the
error is logged and the sweeper (``orders_sweep``) enqueues the order again once it is
overdue, so a lost message loses no order.
"""

from __future__ import annotations

from datetime import datetime

from desk.tasks import enqueue_on_commit

# A Redis restart takes about a second: ride it out (~1.5 s at most) before giving up to the sweeper.
RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}


def route_after_commit(parent_id: int) -> None:
    enqueue_on_commit("orders_app.tasks.order_route", (parent_id,), robust=True, retry_policy=RETRY_POLICY)


def work_after_commit(child_id: int, seq: int, eta: datetime | None = None) -> None:
    enqueue_on_commit("orders_app.tasks.child_execute", (child_id, seq), robust=True, eta=eta, retry_policy=RETRY_POLICY)
