"""kill -9 of a Celery worker in the middle of a burst of orders: every order still reaches a
terminal state exactly once, no fill is recorded twice, positions and cash equal the fills
(the sweeper re-enqueues what the dead worker held; ``acks_late`` + ``reject_on_worker_lost``)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.faults.harness import invariant_violations, wait_terminal

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

N_ORDERS = 200
SYMBOLS = ("AAPL", "MSFT", "KO", "PFE", "XOM", "JNJ")


def test_orders_when_worker_killed_mid_burst_then_all_terminal_once_and_books_match_fills(desk):
    from orders_app.models import Fill
    from portfolio_app.models import Portfolio

    cash_before = {b.pk: Portfolio.objects.get(pk=b.pk).cash for b in desk.books}
    run = uuid.uuid4().hex[:6]
    ids = [f"K{run}-{i}" for i in range(N_ORDERS)]
    refused: list[tuple] = []

    def place(k: int) -> None:
        for i in range(k, N_ORDERS, len(desk.books)):
            status, body = desk.api.place(portfolio=desk.books[k].pk, symbol=SYMBOLS[i % len(SYMBOLS)],
                                          quantity=100 + i, client_order_id=ids[i], until=120)
            if status != 201:
                refused.append((ids[i], status, body))
            time.sleep(0.05)

    threads = [threading.Thread(target=place, args=(k,)) for k in range(len(desk.books))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while Fill.objects.filter(order__portfolio__in=desk.books).count() < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    desk.workers[0].kill9()  # mid-burst: tasks in flight die with it, unacknowledged
    time.sleep(1.0)
    desk.worker()
    for t in threads:
        t.join()

    assert refused == []
    statuses = wait_terminal(ids, timeout=240)
    assert len(statuses) == N_ORDERS
    assert set(statuses.values()) == {"FILLED"}, {s for s in statuses.values()}
    assert invariant_violations([b.pk for b in desk.books], cash_before) == []
