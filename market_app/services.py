"""The replayed market, told to the desk: price ticks to browsers.

It runs from Celery beat on the market clock, so the desk is never static.
"""

from __future__ import annotations


import structlog
from django.db import transaction

from desk import groups
from market_app.clock import get_clock
from desk.events import event_publish

log = structlog.get_logger("desk.market")


def price_ticks_publish() -> int:
    """Publish the current mark of every tradable instrument (conflated ``price.tick``)."""
    from market_app.models import Instrument
    from market_app.marks import marks_found

    clock = get_clock()
    if not clock.is_session_open():
        return 0
    now = clock.market_now()
    symbols = list(Instrument.objects.filter(tradable=True).values_list("symbol", flat=True))
    marks, _ = marks_found(symbols, now)  # an instrument without a price has no tick
    if marks:
        with transaction.atomic():
            event_publish(
                event_type="price.tick",
                payload={"ts": now, "ticks": {s: {"px": px} for s, px in marks.items()}},
                groups=[groups.DESK],
            )
    return len(marks)
