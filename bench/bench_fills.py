"""fill_apply throughput: one portfolio (serialised by its row lock) vs 8 portfolios in
parallel, with the ratio to a bare single-row UPDATE per transaction in the same run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D

from django.db import connection, transaction

THREADS = 8
FILLS_PER_THREAD = 150


def _setup(n_portfolios: int):
    from orders_app import services
    from market_app.models import Instrument
    from portfolio_app.models import Portfolio

    inst, _ = Instrument.objects.get_or_create(symbol="BENCHFILL", defaults={"adv": 1_000_000})
    orders = []
    for k in range(n_portfolios):
        pf = Portfolio.objects.create(name=f"bench-fills-{time.time_ns()}-{k}", cash=D("100000000.00"))
        order, _ = services.order_create(client_order_id=f"bf-{time.time_ns()}-{k}", portfolio_id=pf.pk,
                                         instrument_id=inst.pk, side="BUY", quantity=D(10**9))
        services.order_apply_event(order_id=order.pk, event="SUBMITTED")
        orders.append(order)
    return orders


def _run_threads(target) -> float:
    threads = [threading.Thread(target=target, args=(k,)) for k in range(THREADS)]
    t0 = time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    return time.perf_counter() - t0


def _fills(orders, tag) -> float:
    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app import services

    def work(k):
        order = orders[k % len(orders)]
        try:
            for i in range(FILLS_PER_THREAD):
                services.fill_apply(order_id=order.pk, report=FillReport(
                    f"{tag}-{order.pk}-{k}-{i}", order.client_order_id, "", "BENCHFILL", Side.BUY, D(10), D("101.25"),
                    D("0.35"), LiquiditySide.TAKER, datetime.now(UTC)))
        finally:
            connection.close()

    return THREADS * FILLS_PER_THREAD / _run_threads(work)


def _bare_updates(orders) -> float:
    from portfolio_app.models import Portfolio

    table = Portfolio._meta.db_table

    def work(k):
        pid = orders[k % len(orders)].portfolio_id
        try:
            for _ in range(FILLS_PER_THREAD):
                with transaction.atomic(), connection.cursor() as cur:
                    cur.execute(f"UPDATE {table} SET cash = cash + 1 WHERE id = %s", [pid])
        finally:
            connection.close()

    return THREADS * FILLS_PER_THREAD / _run_threads(work)


def _cleanup(orders):
    from orders_app.models import Fill, Order, OrderEvent
    from portfolio_app.models import Portfolio, Position

    ids = [o.portfolio_id for o in orders]
    Fill.objects.filter(order__portfolio_id__in=ids).delete()
    OrderEvent.objects.filter(order__portfolio_id__in=ids).delete()
    Order.objects.filter(portfolio_id__in=ids).delete()
    Position.objects.filter(portfolio_id__in=ids).delete()
    Portfolio.objects.filter(id__in=ids).delete()


def run():
    figures = []
    for n in (1, 8):
        orders = _setup(n)
        try:
            bare = _bare_updates(orders)
            fills = _fills(orders, f"b{n}-{time.time_ns()}")
        finally:
            _cleanup(orders)
        figures.append({
            "name": f"orders.fill_apply_{n}_portfolio{'s' if n > 1 else ''}", "value": fills, "unit": "fills/s",
            "ratio": round(fills / bare, 3), "ref": f"bare 1-row UPDATE per transaction ({bare:,.0f}/s)",
            "note": f"{THREADS} threads, {connection.vendor}",
        })
    return figures
