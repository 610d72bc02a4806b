"""Fixtures for the order-management tests: the demo book on a hand-stepped market clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

# 2022-03-01 10:00 New York: an ordinary session, half an hour after the open.
MARKET_T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def stepped_clock():
    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from market_app.marks import clear_cache

    clock = SteppedClock(MARKET_T0)
    set_clock(clock)
    clear_cache()
    yield clock
    set_clock(None)
    clear_cache()


@pytest.fixture
def book(demo_small, stepped_clock, settings):
    """The demo portfolio, its trader, and the clock."""
    from django.contrib.auth import get_user_model

    from ops_app import demo
    from portfolio_app.models import Portfolio

    settings.DESK_ORDER_POLL_SECONDS = 0.1
    portfolio = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
    trader = get_user_model().objects.get(username="trader")
    return portfolio, trader, stepped_clock


@pytest.fixture
def enqueued(monkeypatch):
    """Capture what the services enqueue instead of sending it to a broker (still after commit)."""
    from django.db import transaction

    from orders_app import dispatch

    sent: list[tuple] = []
    monkeypatch.setattr(dispatch, "route_after_commit", lambda pid: transaction.on_commit(lambda: sent.append(("route", pid))))
    monkeypatch.setattr(
        dispatch, "work_after_commit", lambda cid, seq, eta=None: transaction.on_commit(lambda: sent.append(("work", cid, seq)))
    )
    monkeypatch.setattr(
        dispatch, "cancels_after_commit",
        lambda pids, actor_id, reason: transaction.on_commit(lambda: sent.extend(("cancel", p, actor_id, reason) for p in sorted(set(pids)))),
    )
    return sent


def drain(sent: list[tuple], *, max_rounds: int = 50) -> list[str]:
    """Run captured tasks like a worker would, round by round (a round may enqueue the next),
    until a round only finds children waiting or working at the current market time."""
    from orders_app.models import Fill
    from orders_app.tasks import control_orders_cancel
    from orders_app.working import child_work, order_route

    outcomes: list[str] = []
    for _ in range(max_rounds):
        batch, sent[:] = list(sent), []
        if not batch:
            break
        fills_before = Fill.objects.count()
        results = []
        for item in batch:
            if item[0] == "route":
                order_route(parent_id=item[1])
                results.append("routed")
            elif item[0] == "cancel":  # the control queue's task, as its worker runs it
                control_orders_cancel(*item[1:])
                results.append("cancelled")
            else:
                results.append(child_work(child_id=item[1], seq=item[2]))
        outcomes += results
        if Fill.objects.count() == fills_before and set(results) <= {"waiting", "working", "superseded", "terminal"}:
            break
    return outcomes
