"""The desk's own Redis (broker, channel layer, cache) restarted during the order flow: the desk
recovers by itself and no order is lost (messages held by Redis are gone with it; the sweeper
re-enqueues what they carried)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.faults.harness import invariant_violations, wait_terminal

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

N_ORDERS = 80
SYMBOLS = ("AAPL", "MSFT", "KO", "PFE")


def test_orders_when_redis_restarts_mid_flow_then_desk_recovers_and_no_order_is_lost(desk, own_redis):
    from portfolio_app.models import Portfolio

    cash_before = {b.pk: Portfolio.objects.get(pk=b.pk).cash for b in desk.books}
    run = uuid.uuid4().hex[:6]
    ids = [f"R{run}-{i}" for i in range(N_ORDERS)]
    results: dict[str, int] = {}

    def place(k: int) -> None:
        for i in range(k, N_ORDERS, len(desk.books)):
            status, _ = desk.api.place(portfolio=desk.books[k].pk, symbol=SYMBOLS[i % len(SYMBOLS)],
                                       quantity=100 + i, client_order_id=ids[i], until=120)
            results[ids[i]] = status
            time.sleep(0.1)

    threads = [threading.Thread(target=place, args=(k,)) for k in range(len(desk.books))]
    for t in threads:
        t.start()
    time.sleep(2.0)
    own_redis.restart(down_seconds=1.0)
    for t in threads:
        t.join()

    assert set(results.values()) == {201}, results
    statuses = wait_terminal(ids, timeout=180)
    assert len(statuses) == N_ORDERS and set(statuses.values()) == {"FILLED"}, statuses
    # And the desk works on: a fresh order goes through to FILLED.
    status, _ = desk.api.place(portfolio=desk.books[0].pk, symbol="XOM", quantity=999, client_order_id=f"R{run}-after")
    assert status == 201
    assert wait_terminal([f"R{run}-after"], timeout=60) == {f"R{run}-after": "FILLED"}
    assert invariant_violations([b.pk for b in desk.books], cash_before) == []
