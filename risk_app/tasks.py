"""Risk tasks: thin, take ids, call one service, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100, ignore_result=True)
def risk_recompute(portfolio_id: int) -> None:
    from risk_app.services.monitor import risk_monitor_recompute, risk_recompute_debounce_clear

    risk_recompute_debounce_clear(portfolio_id)
    risk_monitor_recompute(portfolio_id=portfolio_id)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280, ignore_result=True)
def risk_recompute_all() -> int:
    from risk_app.services.monitor import risk_monitor_recompute_all

    return risk_monitor_recompute_all()


@shared_task(acks_late=True, time_limit=30, soft_time_limit=25)
def risk_probe(portfolio_id: int, symbol: str, quantity: str = "1", reference_price: str | None = None) -> dict:
    """Check one intent with nothing placed: what a worker would decide right now (the kill-switch benchmark)."""
    import os
    import time
    from decimal import Decimal

    from django.db import transaction

    from desk.interfaces import OrderIntent, Side
    from portfolio_app.models import Portfolio
    from risk_app.services import pre_trade_check

    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=portfolio_id)
        verdict = pre_trade_check(
            portfolio_id=portfolio_id, intents=[OrderIntent(portfolio_id, symbol, Side.BUY, Decimal(quantity),
                                 reference_price=Decimal(reference_price) if reference_price else None)],
            record=False, alerts=False,
        )[0]
    return {"passed": verdict.passed, "at": time.time(), "pid": os.getpid()}


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50, ignore_result=True)
def limit_changes_expire() -> int:
    """Beat, every minute: pending limit changes past their time expire."""
    from risk_app.services.limits import limit_changes_expire as expire

    return expire()


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100, ignore_result=True)
def desk_book_refresh() -> int:
    """Beat: re-mark the desk books (desk-wide limits) from the whole book, outside any order's critical section."""
    from risk_app.desk_book import desk_book_refresh as refresh

    return refresh()
