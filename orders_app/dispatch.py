"""Enqueueing the routing tasks, always after commit (STYLE.md rule 7).

The one place services reach tasks from, imported late so ``tasks`` -> ``services``
stays the only import direction at module load.

The callbacks are ``robust``: when the broker is unreachable (Redis restarting), the
order is already committed and the request that placed it must not fail for it; the
error is logged and the sweeper (``orders_sweep``) enqueues the order again once it is
overdue, so a lost message loses no order.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

# A Redis restart takes about a second: ride it out (~1.5 s at most) before giving up to the sweeper.
RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}


def route_after_commit(parent_id: int) -> None:
    def send():
        from orders_app.tasks import order_route

        order_route.apply_async((parent_id,), retry_policy=RETRY_POLICY)

    transaction.on_commit(send, robust=True)


def work_after_commit(child_id: int, seq: int, eta: datetime | None = None) -> None:
    def send():
        from orders_app.tasks import child_execute

        child_execute.apply_async((child_id, seq), eta=eta, retry_policy=RETRY_POLICY)

    transaction.on_commit(send, robust=True)
