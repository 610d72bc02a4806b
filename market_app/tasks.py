"""Market tasks (beat jobs): thin."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, expires=5)
def price_ticks_publish() -> None:
    from market_app.services import price_ticks_publish as publish

    publish()
