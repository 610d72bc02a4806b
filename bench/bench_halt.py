"""HALTED -> every cancel at its venue, with 1,000 working orders, while the order flow is saturated.

Honest set-up, as ``make run`` deploys it: a routing worker (prefork x2, queues ``routing,default``) and
the control worker (prefork x2, queue ``control``: the Procfile's ``control`` process) as separate
``celery worker`` processes; PostgreSQL and Redis as configured; the paper venue (its book in the
database). The bench makes ``BENCH_HALT_BOOKS`` portfolios holding ``BENCH_HALT_ORDERS`` working orders in
all (LIMIT buys 4% under the mark: each one child resting at a paper venue), then saturates the routing
worker with a burst of market orders on another book, and, while that backlog waits, a risk officer
HALTs the desk (``trading_state_set``, as the Risk page does). Measured from the call until every one of
those children is CANCELED at its venue (``PaperBookOrder``) and on the desk. Reference, same run: how
long the routing backlog present at the HALT took to drain - what a cancel queued behind it would have
waited. CPU: the control worker's processes and this process (playing the web process that takes the
HALT request), per cancelled order.

Everything the run creates is deleted and the desk re-armed (by two risk officers) at the end; the two
officers are kept, inactive, as the kill switch's audit trail names them.
``BENCH_HALT_ORDERS``, ``BENCH_HALT_BOOKS``, ``BENCH_HALT_BURST`` change the sizes.
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal


N_ORDERS = int(os.environ.get("BENCH_HALT_ORDERS", "1000"))
N_BOOKS = int(os.environ.get("BENCH_HALT_BOOKS", "10"))
BURST = int(os.environ.get("BENCH_HALT_BURST", "100"))
GOAL_S = 1.0
SYMBOLS = ("AAPL", "MSFT", "KO", "PFE", "XOM", "JNJ", "BAC", "WMT")


from bench.cpu import cpu_seconds as _cpu_s  # noqa: E402


def _queue_len(name: str) -> int:
    from config.celery import app

    with app.connection_for_read() as conn:
        return conn.default_channel.client.llen(name)


def _limit_below(symbol: str) -> Decimal:
    from market_app.clock import get_clock
    from market_app.marks import market_state, session_at, session_market

    now = get_clock().market_now()
    mark = market_state(session_market(session_at(now), [symbol]), symbol, now).mark
    return (Decimal(str(mark)) * Decimal("0.96")).quantize(Decimal("0.01"))


def _working_orders(user, books, symbols) -> list[int]:
    """``N_ORDERS`` resting LIMIT buys over ``books``, routed and sent in this process (the routing
    service itself, inline), so the set-up does not wait for the worker."""
    from orders_app.submission import order_place
    from orders_app.working import order_route

    limits = {s: _limit_below(s) for s in symbols}
    ids = []
    for i in range(N_ORDERS):
        b, sym = books[i % len(books)], symbols[i % len(symbols)]
        o = order_place(user=user, portfolio_id=b.pk, symbol=sym, side="BUY", quantity=Decimal(10 + i % 7),
                        order_type="LIMIT", limit_price=limits[sym], client_order_id=f"H{uuid.uuid4().hex[:16]}")
        if o.status == "SUBMITTED":
            order_route(parent_id=o.pk, work_due_inline=True)
            ids.append(o.pk)
        if (i + 1) % 100 == 0:
            print(f"    {i + 1} working orders placed", flush=True)
    return ids


def run() -> list[dict]:
    from django.contrib.auth import get_user_model

    from bench.bench_orders import cleanup, make_books
    from config.celery import app
    from desk import roles
    from market_app.models import Instrument, PaperBookOrder
    from ops_app.accounts import desk_user_create
    from orders_app.models import Order, Venue
    from orders_app.submission import order_place
    from risk_app.models import TradingStateRecord
    from risk_app.services.state import trading_state_rearm_confirm, trading_state_rearm_request, trading_state_set
    from tests.live_stack import Worker

    if not Venue.objects.exists() or not Instrument.objects.filter(symbol__in=SYMBOLS).exists():
        return [{"name": "halt.cancel_all", "value": 0, "unit": "skipped", "note": "demo data not loaded (make demo)"}]
    if TradingStateRecord.objects.filter(scope="desk", state="HALTED").exists():
        return [{"name": "halt.cancel_all", "value": 0, "unit": "skipped", "note": "the desk is HALTED already"}]
    app.conf.task_always_eager = False
    symbols = list(Instrument.objects.filter(symbol__in=SYMBOLS).values_list("symbol", flat=True))
    tag = uuid.uuid4().hex[:6]
    trader, _, _ = desk_user_create(username=f"bench-halt-t-{tag}", role=roles.TRADER)
    officer, _, _ = desk_user_create(username=f"bench-halt-r-{tag}", role=roles.RISK_OFFICER)
    second, _, _ = desk_user_create(username=f"bench-halt-r2-{tag}", role=roles.RISK_OFFICER)
    books = make_books(N_BOOKS + 1, trader)
    flow_book, books = books[0], books[1:]
    routing = Worker(name="bench-halt-routing")
    control = Worker(name="bench-halt-control", queues="control")
    results: list[dict] = []
    halted = False
    try:
        t0 = time.perf_counter()
        parents = _working_orders(trader, books, symbols)
        setup_s = time.perf_counter() - t0
        children = list(Order.objects.filter(parent_id__in=parents).values_list("id", "client_order_id"))
        child_ids, child_cids = [c[0] for c in children], [c[1] for c in children]
        working = Order.objects.filter(pk__in=child_ids, status="ACCEPTED").count()
        with app.connection_for_write() as conn:  # the set-up's own routing tasks: they would only find their orders routed
            conn.default_channel.queue_purge("routing")
        # Saturate the order flow: a burst of market orders whose routing tasks queue up (the workers start after).
        for i in range(BURST):
            order_place(user=trader, portfolio_id=flow_book.pk, symbol=symbols[i % len(symbols)], side="BUY",
                        quantity=Decimal(1 + i))
        routing.start()
        control.start()
        deadline = time.monotonic() + 120
        while len(app.control.ping(timeout=1.0) or []) < 2 and time.monotonic() < deadline:
            pass  # both workers up (a broadcast ping: it does not queue behind the routing backlog)
        time.sleep(1.0)
        backlog = _queue_len("routing")
        cpu0, web0 = _cpu_s([control.proc.pid]), time.process_time()
        t_halt = time.perf_counter()
        trading_state_set(scope="desk", state="HALTED", actor=officer, reason="bench drill")
        halted = True
        t_committed = time.perf_counter()
        web_cpu = time.process_time() - web0  # the HALT request's own work (the polling below is not counted)
        deadline = t_halt + 300
        t_venue = t_desk = t_drained = None
        while time.perf_counter() < deadline and (t_venue is None or t_desk is None or t_drained is None):
            now = time.perf_counter()
            if t_venue is None and not PaperBookOrder.objects.filter(client_order_id__in=child_cids).exclude(
                    status__in=["CANCELED", "FILLED", "EXPIRED", "REJECTED"]).exists():
                t_venue = now
                cpu1 = _cpu_s([control.proc.pid]) + web_cpu
            if t_desk is None and not Order.objects.filter(pk__in=parents + child_ids, status__in=[
                    "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_CANCEL", "PENDING_UPDATE", "INITIALIZED"]).exists():
                t_desk = now
            if t_drained is None and _queue_len("routing") == 0:
                t_drained = now
            time.sleep(0.05)
        cancelled = Order.objects.filter(pk__in=child_ids, status="CANCELED").count()
    finally:
        routing.stop()
        control.stop()
        if halted:
            rearm = trading_state_rearm_request(scope="desk", state="ACTIVE", actor=officer, reason="bench over")
            trading_state_rearm_confirm(rearm_id=rearm.pk, actor=second, reason="bench over")
        for b in [flow_book, *books]:
            PaperBookOrder.objects.filter(client_order_id__in=Order.objects.filter(portfolio_id=b.pk)
                                          .values_list("client_order_id", flat=True)).delete()
            cleanup(b.pk)
        get_user_model().objects.filter(pk=trader.pk).delete()
        # The risk officers stay (inactive): the kill switch's audit trail names them.
        get_user_model().objects.filter(pk__in=[officer.pk, second.pk]).update(is_active=False)
    if t_venue is None:
        return [{"name": "halt.all_cancels_at_venue", "value": 0, "unit": "failed", "note": f"not all cancelled in 300 s ({cancelled}/{len(child_ids)})"}]
    venue_s = t_venue - t_halt
    ref_s = (t_drained - t_halt) if t_drained is not None else float("nan")
    note = (f"{len(parents)} working orders ({working} children resting at paper venues) over {N_BOOKS} books; desk HALT "
            f"with {backlog} routing tasks queued (a burst of {BURST} market orders); routing worker prefork x2, control "
            f"worker prefork x2; HALT committed in {1e3 * (t_committed - t_halt):.0f} ms; set-up {setup_s:.0f} s")
    results += [
        {"name": "halt.all_cancels_at_venue", "value": round(venue_s, 3), "unit": "s", "goal": f"<= {GOAL_S:g} (resolve <= 2)",
         "ref": "routing backlog drain (what a cancel behind it waits)", "ratio": round(venue_s / ref_s, 3) if ref_s == ref_s else None,
         "note": note},
        {"name": "halt.all_orders_canceled_on_desk", "value": round((t_desk or t_venue) - t_halt, 3), "unit": "s",
         "note": f"{cancelled}/{len(child_ids)} children CANCELED with the venue's confirmation"},
        {"name": "halt.routing_backlog_drain", "value": round(ref_s, 3), "unit": "s", "note": f"{backlog} routing tasks at the HALT"},
        {"name": "halt.cpu_ms_per_cancel", "value": round(1e3 * (cpu1 - cpu0) / max(1, len(child_ids)), 2), "unit": "CPU-ms",
         "note": "control worker's processes + the HALT call in this process (the web side), per cancelled child"},
    ]
    return results
