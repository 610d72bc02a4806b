"""Enqueueing the routing tasks, always after commit (STYLE.md rule 7).

The one place services reach tasks from, imported late so ``tasks`` -> ``services``
stays the only import direction at module load.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction


def route_after_commit(parent_id: int) -> None:
    def send():
        from orders_app.tasks import order_route

        order_route.apply_async((parent_id,))

    transaction.on_commit(send)


def work_after_commit(child_id: int, seq: int, eta: datetime | None = None) -> None:
    def send():
        from orders_app.tasks import child_execute

        child_execute.apply_async((child_id, seq), eta=eta)

    transaction.on_commit(send)
