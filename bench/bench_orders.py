"""Order lifecycle through real Celery workers, the configured database and Redis.

N IMMEDIATE market orders are placed (``order_place``: checks, SUBMITTED, routing task
enqueued after commit) from one thread per throwaway portfolio (4); a worker (threads pool, every desk
queue, in this process so it shares the bench's replay clock) routes them and works the
children on the paper venues; a channel-layer listener on each portfolio group stamps
each ``fill.created``. Figures: orders/s (first submit -> last fill pushed) and p50/p99
submit -> fill-pushed latency, with the ratio to a no-op Celery task round trip measured
in the same run. Everything the run creates is deleted at the end.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import numpy as np

N_ORDERS = int(os.environ.get("BENCH_ORDERS_N", "300"))
N_NOOP = 200
N_BOOKS = 4
# Below the demo limits' desk-wide "Max order rate" (50/s), which would deny the excess.
OFFERED_RATE = float(os.environ.get("BENCH_ORDERS_RATE", "40"))
SYMBOLS = ("AAPL", "MSFT", "KO", "PFE", "XOM", "JNJ", "BAC", "WMT")


def _noop_task():
    from config.celery import app

    @app.task(name="bench.orders_noop", ignore_result=False, acks_late=True)
    def orders_noop():
        return 1

    return orders_noop


class _Listener(threading.Thread):
    """Receives the portfolio group's pushes; stamps the first fill.created per order."""

    def __init__(self, group: str):
        super().__init__(daemon=True)
        self.group, self.stamps, self.ready, self.stop = group, {}, threading.Event(), False

    def run(self):
        asyncio.run(self._main())

    async def _main(self):
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(self.group, channel)
        self.ready.set()
        while not self.stop:
            try:
                msg = await asyncio.wait_for(layer.receive(channel), 0.5)
            except asyncio.TimeoutError:
                continue
            if msg.get("type") == "fill.created":
                pid = msg["data"].get("parent_id") or msg["data"]["order_id"]
                self.stamps.setdefault(pid, time.perf_counter())
        await layer.group_discard(self.group, channel)


def _cleanup(portfolio_id: int) -> None:
    from orders_app.models import Fill, Order, OrderEvent, RoutingDecision
    from portfolio_app.models import Portfolio, Position

    Fill.objects.filter(order__portfolio_id=portfolio_id).delete()
    OrderEvent.objects.filter(order__portfolio_id=portfolio_id).delete()
    RoutingDecision.objects.filter(parent__portfolio_id=portfolio_id).delete()
    Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=False).delete()
    Order.objects.filter(portfolio_id=portfolio_id).delete()
    Position.objects.filter(portfolio_id=portfolio_id).delete()
    try:
        from risk_app.models import RiskCheck

        RiskCheck.objects.filter(portfolio_id=portfolio_id).delete()
    except Exception:  # noqa: BLE001 - the risk app's tables are not ours to require
        pass
    Portfolio.objects.filter(pk=portfolio_id).delete()


def run() -> list[dict]:
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from config.celery import app
    from execution_app import groups, roles
    from execution_app.accounts import desk_user_create
    from execution_app.clock import ReplayClock
    from execution_app.clock_service import set_clock
    from orders_app import states
    from orders_app.models import Order, Venue
    from orders_app.services import order_place
    from portfolio_app.models import Instrument, Portfolio

    if not Venue.objects.exists() or not Instrument.objects.filter(symbol__in=SYMBOLS).exists():
        return [{"name": "orders.lifecycle", "value": 0, "unit": "skipped", "note": "demo data not loaded (make demo)"}]
    symbols = list(Instrument.objects.filter(symbol__in=SYMBOLS).values_list("symbol", flat=True))
    noop = _noop_task()
    # Mid-session on an ordinary day, at the demo's replay speed.
    set_clock(ReplayClock("2022-03-01", 600, timezone.now() - timedelta(seconds=600 * 60 / 390)))
    user, _, _ = desk_user_create(username="bench-orders", role=roles.TRADER)
    books = [Portfolio.objects.create(name=f"bench-orders-{uuid.uuid4().hex[:8]}", cash=Decimal("1000000000.00"))
             for _ in range(N_BOOKS)]
    for b in books:
        b.traders.add(user)
    listeners = [_Listener(groups.portfolio(b.pk)) for b in books]
    for listener in listeners:
        listener.start()
        listener.ready.wait(10)
    app.conf.task_always_eager = False
    results: list[dict] = []
    try:
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False,
                          queues=list(settings.DESK_QUEUES), shutdown_timeout=30, loglevel="WARNING"):
            # The reference: a no-op task's round trip through the same broker and worker.
            for _ in range(10):
                noop.apply_async().get(timeout=10)
            rt = []
            for _ in range(N_NOOP):
                t0 = time.perf_counter()
                noop.apply_async().get(timeout=10)
                rt.append(time.perf_counter() - t0)
            noop_p50 = float(np.percentile(rt, 50)) * 1e3

            submitted: dict[int, float] = {}
            t_start = time.perf_counter()

            def submit(k: int) -> None:
                # One submitter per portfolio, as traders of different books would.
                from django.db import connection

                try:
                    for n, i in enumerate(range(k, N_ORDERS, N_BOOKS)):
                        # Offered load: OFFERED_RATE orders/s over all books (a tight loop would
                        # starve the workers of each book's row lock and measure only the queue).
                        delay = t_start + n * N_BOOKS / OFFERED_RATE - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                        t0 = time.perf_counter()
                        o = order_place(user=user, portfolio_id=books[k].pk, symbol=symbols[i % len(symbols)],
                                        side="BUY", quantity=Decimal(100 + i))  # distinct: the duplicate-order limit
                        submitted[o.pk] = t0
                finally:
                    connection.close()

            threads = [threading.Thread(target=submit, args=(k,)) for k in range(N_BOOKS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            denied = Order.objects.filter(pk__in=submitted, status="DENIED").count()
            why = Order.objects.filter(pk__in=submitted, status="DENIED").values_list("reason", flat=True).first() or ""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pending = Order.objects.filter(pk__in=submitted).exclude(status__in=list(states.ORDER_TABLE.terminal)).count()
                stamps = {k: v for li in listeners for k, v in li.stamps.items()}
                if pending == 0 and len(stamps) >= N_ORDERS - denied:
                    break
                time.sleep(0.02)
            filled = Order.objects.filter(pk__in=submitted, status="FILLED").count()
            from django.db.models import Min

            db_lat = [
                (r["first"] - r["created_at"]).total_seconds() * 1e3
                for r in Order.objects.filter(pk__in=submitted).values("created_at").annotate(first=Min("children__fills__created_at"))
                if r["first"]
            ]
            stamps = {k: v for li in listeners for k, v in li.stamps.items()}
            lat = [stamps[pk] - t for pk, t in submitted.items() if pk in stamps]
            t_end = max(stamps.values()) if stamps else time.perf_counter()
        elapsed = t_end - t_start
        p50, p99 = (float(np.percentile(lat, q)) * 1e3 for q in (50, 99)) if lat else (float("nan"),) * 2
        vendor = __import__("django.db", fromlist=["connection"]).connection.vendor
        note = f"{N_ORDERS} orders, {filled} FILLED, {denied} denied{' (' + why[:80] + ')' if why else ''}, {vendor}, offered {OFFERED_RATE:g}/s from {N_BOOKS} books, worker threads x4 in-process; the desk's 'Max order rate' limit applies"
        results += [
            {"name": "orders.lifecycle_throughput", "value": round(filled / elapsed, 1), "unit": "orders/s",
             "goal": ">= 100", "note": note},
            {"name": "orders.submit_to_fill_pushed_p50", "value": round(p50, 1), "unit": "ms",
             "ref": "no-op Celery task round trip p50", "ratio": round(p50 / noop_p50, 1), "note": note},
            {"name": "orders.submit_to_fill_pushed_p99", "value": round(p99, 1), "unit": "ms", "goal": "<= 100",
             "ref": "no-op Celery task round trip p50", "ratio": round(p99 / noop_p50, 1), "note": note},
            {"name": "orders.order_created_to_fill_committed_p50", "value": round(float(np.percentile(db_lat, 50)), 1) if db_lat else None,
             "unit": "ms", "note": "database timestamps: the worker side of the latency, without the push"},
            {"name": "orders.noop_task_round_trip_p50", "value": round(noop_p50, 2), "unit": "ms",
             "note": "apply_async().get() through the same broker and worker"},
        ]
    finally:
        for listener in listeners:
            listener.stop = True
            listener.join(5)
        set_clock(None)
        for b in books:
            _cleanup(b.pk)
        get_user_model().objects.filter(pk=user.pk).delete()
    return results
