"""The replayed market, told to the desk: price ticks to browsers, NAV snapshots at closes.

Both run from Celery beat on the market clock, so the desk is never static.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from django.db import transaction

from execution_app import groups
from execution_app.clock_service import get_clock
from execution_app.events import event_publish

log = structlog.get_logger("desk.market")


def price_ticks_publish() -> int:
    """Publish the current mark of every tradable instrument (conflated ``price.tick``)."""
    from portfolio_app.models import Instrument
    from portfolio_app.selectors import marks_at

    clock = get_clock()
    if not clock.is_session_open():
        return 0
    now = clock.market_now()
    symbols = list(Instrument.objects.filter(tradable=True).values_list("symbol", flat=True))
    marks = marks_at(symbols, now)
    if marks:
        with transaction.atomic():
            event_publish(
                event_type="price.tick",
                payload={"ts": now, "ticks": {s: {"px": px} for s, px in marks.items()}},
                groups=[groups.DESK],
            )
    return len(marks)


def nav_snapshots_take() -> int:
    """A NAV snapshot per portfolio at the last closed session (idempotent), and the peak NAV.

    Marks are that session's closes, so "today's P&L" and drawdown have a stable base.
    """
    from portfolio_app.models import Instrument, NavSnapshot, Portfolio, Position
    from portfolio_app.selectors import latest_closes

    clock = get_clock()
    session = clock.last_closed_session()
    if session is None:
        return 0
    done = set(NavSnapshot.objects.filter(session=session).values_list("portfolio_id", flat=True))
    todo = list(Portfolio.objects.exclude(pk__in=done))
    if not todo:
        return 0
    positions = list(Position.objects.filter(portfolio__in=todo).exclude(quantity=0).values_list("portfolio_id", "instrument_id", "quantity"))
    closes = latest_closes({iid for _, iid, _ in positions} or set(Instrument.objects.none()), session)
    value: dict[int, Decimal] = {}
    for pid, iid, qty in positions:
        value[pid] = value.get(pid, Decimal(0)) + qty * closes.get(iid, Decimal(0))
    made = 0
    for p in todo:
        with transaction.atomic():
            pf = Portfolio.objects.select_for_update().get(pk=p.pk)
            nav = (pf.cash + value.get(pf.pk, Decimal(0))).quantize(Decimal("0.01"))
            _, created = NavSnapshot.objects.get_or_create(portfolio=pf, session=session, defaults={"nav": nav, "cash": pf.cash})
            if created:
                made += 1
                if pf.peak_nav is None or nav > pf.peak_nav:
                    pf.peak_nav = nav
                    pf.save(update_fields=["peak_nav"])
    log.info("nav.snapshots", session=str(session), made=made)
    return made
