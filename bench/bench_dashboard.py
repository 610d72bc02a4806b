"""The live dashboard's measures:

- fill -> browser latency: a fill committed by ``fill_apply`` in this process -> its
  ``fill.created`` received by a websocket client of a real uvicorn server; p50/p99 over 1,000;
- fan-out: 100 websocket clients watching one portfolio, fill rates stepped up, the highest
  rate at which every client receives every fill for 10 s, and the p99 latency there;
- the blotter page's server time (GET /orders/ through the test Client) with 100,000 orders.

- the same fan-out of ``fill.created`` events published without their fills (the fan-out alone,
  when committing fills is what limits the rate);

``DESK_BENCH_DASHBOARD=fanout`` (comma-separated: latency, fanout, events, blotter) runs only those parts.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal as D

from django.db import connection, transaction

from bench.cpu import CpuMeter

N_LATENCY = 1000
FANOUT_CLIENTS = 100
FANOUT_SECONDS = 10.0
FANOUT_RATES = (10, 25, 50, 100, 150, 200, 300)
CONNECT_WAVE = 10
PARTS = os.environ.get("DESK_BENCH_DASHBOARD", "latency,fanout,events,blotter").split(",")
BLOTTER_ORDERS = 100_000
BLOTTER_REQUESTS = 15
PASSWORD = "bench-password-123"


def _percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class _Book:
    """A throwaway portfolio with one open order to fill, and a trader of it with a session."""

    def __init__(self, tag: str):
        from django.test import Client

        from desk import roles
        from ops_app.accounts import desk_user_create
        from orders_app import services
        from market_app.models import Instrument
        from portfolio_app.models import Portfolio

        self.tag = tag
        self.user, _, _ = desk_user_create(username=f"bench-dash-{tag}", role=roles.TRADER, password=PASSWORD)
        self.inst, _ = Instrument.objects.get_or_create(symbol="BENCHDASH", defaults={"adv": 1_000_000})
        self.portfolio = Portfolio.objects.create(name=f"bench-dash-{tag}", cash=D("1000000000.00"))
        self.portfolio.traders.add(self.user)
        self.order, _ = services.order_create(client_order_id=f"bd-{tag}", portfolio_id=self.portfolio.pk,
                                              instrument_id=self.inst.pk, side="BUY", quantity=D(10**12))
        services.order_apply_event(order_id=self.order.pk, event="SUBMITTED")
        client = Client()
        client.force_login(self.user)
        self.cookie = client.cookies["sessionid"].value

    def fill(self, trade_id: str, stamps: dict) -> None:
        """Commit one fill; ``stamps[trade_id]`` is the moment its transaction committed."""
        from desk.interfaces import FillReport, LiquiditySide, Side
        from orders_app import services

        with transaction.atomic():
            # Registered before fill_apply's own hooks, so it runs first: the commit instant.
            transaction.on_commit(lambda: stamps.__setitem__(trade_id, time.perf_counter()))
            services.fill_apply(order_id=self.order.pk, report=FillReport(
                trade_id, self.order.client_order_id, "", "BENCHDASH", Side.BUY, D(1), D("100.00"),
                D("0.01"), LiquiditySide.TAKER, datetime.now(UTC)))

    def close(self) -> None:
        from django.contrib.auth import get_user_model

        from orders_app.models import Fill, Order, OrderEvent
        from portfolio_app.models import Portfolio, Position

        pid = self.portfolio.pk
        Fill.objects.filter(order__portfolio_id=pid).delete()
        OrderEvent.objects.filter(order__portfolio_id=pid).delete()
        Order.objects.filter(portfolio_id=pid).delete()
        Position.objects.filter(portfolio_id=pid).delete()
        Portfolio.objects.filter(pk=pid).delete()
        get_user_model().objects.filter(pk=self.user.pk).delete()


async def _connect(url, cookie, origin):
    import websockets

    ws = await websockets.connect(url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": origin},
                                  max_queue=None, open_timeout=30)
    await ws.recv()  # hello
    return ws


def _latency(book: _Book, stack) -> list[dict]:
    url = stack.url.replace("http", "ws") + "/ws/desk/"
    received: dict[str, float] = {}
    committed: dict[str, float] = {}
    ready, done = threading.Event(), threading.Event()
    prefix = f"lat-{book.tag}-"

    async def listen():
        ws = await _connect(url, book.cookie, stack.url)
        ready.set()
        try:
            while len(received) < N_LATENCY:
                try:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                except asyncio.TimeoutError:
                    break
                if msg.get("type") == "fill.created" and msg["data"]["trade_id"].startswith(prefix):
                    received[msg["data"]["trade_id"]] = time.perf_counter()
        finally:
            await ws.close()
            done.set()

    thread = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    thread.start()
    ready.wait(30)
    for i in range(N_LATENCY):
        book.fill(f"{prefix}{i}", committed)
        time.sleep(0.002)  # a steady stream, not a burst queued behind itself
    done.wait(30)
    lat = [(received[t] - committed[t]) * 1000 for t in received if t in committed]
    if not lat:
        return [{"name": "dashboard.fill_to_browser_p50", "value": float("nan"), "unit": "ms", "note": "nothing received"}]
    return [
        {"name": "dashboard.fill_to_browser_p50", "value": round(statistics.median(lat), 2), "unit": "ms", "goal": "<= 10",
         "note": f"{len(lat)}/{N_LATENCY} received; fill_apply commit -> on_commit push -> Redis -> uvicorn -> websocket client"},
        {"name": "dashboard.fill_to_browser_p99", "value": round(_percentile(lat, 0.99), 2), "unit": "ms", "goal": "<= 50"},
    ]


def _fanout_clients(url: str, cookie: str, origin: str, prefix: str, n_clients: int, pipe) -> None:
    """The 100 browsers, in a process of their own (their reading must not take this process's GIL
    from the fills it publishes): connect, say "ready", count ``prefix`` fills until told how many
    were sent, then send back the counts, the latencies and any failure."""
    counts = [0] * n_clients
    received: list[tuple[str, float]] = []
    failure: list[str] = []
    state = {"expect": None, "committed": {}}

    async def client(k, ws):
        while True:
            expect = state["expect"]
            if expect is not None and (counts[k] >= expect or time.perf_counter() > state["deadline"]):
                return
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.2)
            except asyncio.TimeoutError:
                continue
            except Exception as exc:  # a dropped socket fails the rate
                failure.append(repr(exc))
                return
            now = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process
            if prefix not in raw:
                continue
            msg = json.loads(raw)
            if msg.get("type") == "fill.created":
                counts[k] += 1
                received.append((msg["data"]["trade_id"], now))

    async def control():
        loop = asyncio.get_running_loop()
        sent, committed = await loop.run_in_executor(None, pipe.recv)
        state["committed"] = committed
        state["deadline"] = time.perf_counter() + 5.0  # let the tail drain
        state["expect"] = sent

    async def main():
        # In waves, as browsers open over some seconds: the measure is fan-out, not a connection storm
        # (a handshake the server does not finish in 10 s is dropped, and each one is a few queries).
        sockets = []
        for start in range(0, n_clients, CONNECT_WAVE):
            n = min(CONNECT_WAVE, n_clients - start)
            sockets += await asyncio.gather(*[_connect(url, cookie, origin) for _ in range(n)])
        pipe.send("ready")
        try:
            await asyncio.gather(control(), *[client(k, ws) for k, ws in enumerate(sockets)])
        finally:
            await asyncio.gather(*[ws.close() for ws in sockets], return_exceptions=True)

    try:
        asyncio.run(main())
    except Exception as exc:
        failure.append(repr(exc))
    committed = state["committed"]
    lat = [(t - committed[tid]) * 1000 for tid, t in received if tid in committed]
    pipe.send((counts, lat, failure[:1]))


def _publish_only(book: _Book, trade_id: str, stamps: dict) -> None:
    """A ``fill.created`` as fill_apply sends it, without the fill: the fan-out alone."""
    from desk import groups
    from desk.events import event_publish

    with transaction.atomic():
        transaction.on_commit(lambda: stamps.__setitem__(trade_id, time.perf_counter()))
        event_publish(event_type="fill.created", groups=[groups.portfolio(book.portfolio.pk)], payload={
            "trade_id": trade_id, "order_id": book.order.pk, "parent_id": None, "client_order_id": book.order.client_order_id,
            "portfolio_id": book.portfolio.pk, "symbol": "BENCHDASH", "side": "BUY", "last_qty": D(1), "last_px": D("100.00"),
            "commission": D("0.01"), "venue": "", "ts_event": datetime.now(UTC), "position_qty": D(1), "cash": D(1)})


def _fanout_at(book: _Book, stack, rate: int, events_only: bool = False) -> dict:
    """``rate`` fills/s for FANOUT_SECONDS to FANOUT_CLIENTS sockets (one asyncio loop in a child process);
    ``events_only``: their ``fill.created`` events without the fills."""
    import multiprocessing

    url = stack.url.replace("http", "ws") + "/ws/desk/"
    prefix = f"fo{'e' if events_only else ''}{rate}-{book.tag}-"
    produce = (lambda tid, stamps: _publish_only(book, tid, stamps)) if events_only else book.fill
    committed: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe()
    clients = ctx.Process(target=_fanout_clients, args=(url, book.cookie, stack.url, prefix, FANOUT_CLIENTS, theirs), daemon=True)
    clients.start()
    if not mine.poll(90) or mine.recv() != "ready":
        clients.kill()
        return {"rate": rate, "ok": False, "note": "clients did not connect"}
    sent, interval = 0, 1.0 / rate
    # The desk's CPU: the web server's processes and this process's publishing (fill_apply, the
    # publisher's loop); the clients' process is not the desk.
    with CpuMeter([p.pid for p in stack.procs], this_process=True) as cpu:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < FANOUT_SECONDS:
            due = t0 + sent * interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            produce(f"{prefix}{sent}", committed)
            sent += 1
        achieved = sent / (time.perf_counter() - t0)
        mine.send((sent, committed))
        counts, lat, failure = mine.recv() if mine.poll(60) else ([0] * FANOUT_CLIENTS, [], ["no report from the clients"])
    clients.join(10)
    ok = not failure and min(counts) == sent and achieved >= rate * 0.95
    return {"rate": rate, "achieved": achieved, "sent": sent, "min_received": min(counts), "ok": ok,
            "lost": sent * FANOUT_CLIENTS - sum(counts), "cpu_ms_per_message": cpu.ms_per(sum(counts)),
            "p99": _percentile(lat, 0.99) if lat else float("nan"), "p50": statistics.median(lat) if lat else float("nan"),
            "failure": failure[:1]}


def _fills_alone(book: _Book, n: int = 300) -> float:
    """The reference: fills/s this process commits back to back with nobody listening."""
    stamps: dict = {}
    t0 = time.perf_counter()
    for i in range(n):
        book.fill(f"alone-{book.tag}-{i}", stamps)
    return n / (time.perf_counter() - t0)


def _trail(results) -> str:
    return "; ".join(
        f"{r['rate']}/s: {r.get('min_received', 0)}/{r.get('sent', 0)} to every client, {r.get('lost', '?')} lost, "
        f"p99 {r.get('p99', float('nan')):.1f} ms, {r.get('cpu_ms_per_message', float('nan')):.3f} CPU-ms/msg"
        + ("" if r["ok"] else " FAIL") for r in results
    )


def _stepped(book: _Book, stack, events_only: bool):
    results, best = [], None
    for rate in FANOUT_RATES:
        r = _fanout_at(book, stack, rate, events_only)
        results.append(r)
        if not r["ok"]:
            break
        best = r
    return results, best


def _fanout_events(book: _Book, stack) -> list[dict]:
    results, best = _stepped(book, stack, events_only=True)
    return [
        {"name": "dashboard.fanout_events_max_rate", "value": best["rate"] if best else 0, "unit": "events/s",
         "goal": ">= 50, 0 lost", "note": f"fill.created events without fill_apply (the fan-out alone), "
                                           f"{FANOUT_CLIENTS} clients: {_trail(results)}"},
        {"name": "dashboard.fanout_events_cpu_ms_per_message", "unit": "CPU-ms",
         "value": round(best["cpu_ms_per_message"] if best else results[0].get("cpu_ms_per_message", float("nan")), 4),
         "note": f"at {best['rate'] if best else results[0]['rate']} events/s: web processes + the publishing process, per message delivered"},
    ]


def _fanout(book: _Book, stack) -> list[dict]:
    alone = _fills_alone(book)
    results, best = _stepped(book, stack, events_only=False)
    trail = "; ".join(
        f"{r['rate']}/s: {r.get('min_received', 0)}/{r.get('sent', 0)} to every client, {r.get('lost', '?')} lost, "
        f"p99 {r.get('p99', float('nan')):.1f} ms, {r.get('cpu_ms_per_message', float('nan')):.3f} CPU-ms/msg"
        + ("" if r["ok"] else " FAIL") for r in results
    )
    ref = "fill_apply commits/s with no sockets, same run"
    if best is None:
        return [{"name": "dashboard.fanout_max_rate", "value": 0, "unit": "fills/s", "goal": ">= 50, 0 lost",
                 "ratio": 0.0, "ref": ref, "note": f"fills alone {alone:.0f}/s; {trail}"}]
    return [
        {"name": "dashboard.fanout_max_rate", "value": best["rate"], "unit": "fills/s", "goal": ">= 50, 0 lost",
         "ratio": round(best["rate"] / alone, 3), "ref": ref,
         "note": f"{FANOUT_CLIENTS} clients, {FANOUT_SECONDS:.0f} s per rate, every client every fill; "
                 f"fills alone {alone:.0f}/s; {trail}"},
        {"name": "dashboard.fanout_p99_at_max_rate", "value": round(best["p99"], 2), "unit": "ms", "goal": "<= 100",
         "note": f"p50 {best['p50']:.1f} ms at {best['rate']} fills/s"},
        {"name": "dashboard.fanout_cpu_ms_per_message", "value": round(best["cpu_ms_per_message"], 4), "unit": "CPU-ms",
         "note": f"at {best['rate']} fills/s: web processes + the publishing process (not the 100 clients' thread), "
                 f"per message delivered"},
    ]


def _blotter() -> list[dict]:
    from django.test import Client

    from orders_app.models import Order

    book = _Book(f"blot{time.time_ns()}")
    try:
        client = Client()
        client.force_login(book.user)
        # The reference: the same page over this portfolio's one order, same run.
        small = []
        for i in range(BLOTTER_REQUESTS + 2):
            t0 = time.perf_counter()
            assert client.get("/orders/").status_code == 200
            if i >= 2:
                small.append((time.perf_counter() - t0) * 1000)
        now = datetime.now(UTC)
        statuses = ("FILLED", "FILLED", "FILLED", "CANCELED", "DENIED", "ACCEPTED", "PARTIALLY_FILLED")
        rows = [
            Order(client_order_id=f"bb-{book.tag}-{i}", portfolio_id=book.portfolio.pk, instrument_id=book.inst.pk,
                  side="BUY" if i % 2 else "SELL", quantity=D(100 + i % 900), filled_qty=D(0),
                  status=statuses[i % len(statuses)], algo="TWAP" if i % 3 else "IMMEDIATE")
            for i in range(BLOTTER_ORDERS)
        ]
        t0 = time.perf_counter()
        Order.objects.bulk_create(rows, batch_size=5000)
        insert_s = time.perf_counter() - t0
        del rows
        Order.objects.filter(portfolio_id=book.portfolio.pk).update(created_at=now)
        with connection.cursor() as cur:  # what autovacuum does soon after a table grows by 100k rows
            cur.execute(f"ANALYZE {Order._meta.db_table}")
        times, filtered = [], []
        cpu0 = time.process_time()
        for i in range(BLOTTER_REQUESTS + 2):
            t0 = time.perf_counter()
            resp = client.get("/orders/")
            dt = (time.perf_counter() - t0) * 1000
            assert resp.status_code == 200, resp.status_code
            if i >= 2:  # warm caches first
                times.append(dt)
        for i in range(BLOTTER_REQUESTS):
            t0 = time.perf_counter()
            resp = client.get("/orders/", {"status": "PARTIALLY_FILLED", "page": "3"})
            filtered.append((time.perf_counter() - t0) * 1000)
        cpu_ms = (time.process_time() - cpu0) * 1000 / (2 * BLOTTER_REQUESTS + 2)
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as q:
            client.get("/orders/")
        queries = len(q.captured_queries)
    finally:
        with connection.cursor() as cur:  # no related rows: a plain DELETE, not 100k cascade look-ups
            cur.execute(f"DELETE FROM {Order._meta.db_table} WHERE portfolio_id = %s AND client_order_id LIKE %s",
                        [book.portfolio.pk, f"bb-{book.tag}-%"])
        book.close()
    ref = statistics.median(small)
    return [
        {"name": "dashboard.blotter_server_ms_100k_orders", "value": round(statistics.median(times), 1), "unit": "ms",
         "goal": "<= 100", "ratio": round(statistics.median(times) / ref, 2), "ref": f"same page over 1 order ({ref:.1f} ms)",
         "note": f"GET /orders/ median of {len(times)}, p-max {max(times):.1f} ms, {queries} queries, "
                 f"{BLOTTER_ORDERS:,} orders (bulk insert {insert_s:.1f} s), {connection.vendor}"},
        {"name": "dashboard.blotter_filtered_ms_100k_orders", "value": round(statistics.median(filtered), 1), "unit": "ms",
         "goal": "<= 100", "ratio": round(statistics.median(filtered) / ref, 2), "ref": "same page over 1 order",
         "note": "status=PARTIALLY_FILLED, page 3"},
        {"name": "dashboard.blotter_cpu_ms_per_request", "value": round(cpu_ms, 1), "unit": "CPU-ms",
         "note": "the web process's CPU per blotter request (in-process test Client; the database's own CPU not counted)"},
    ]


def run():
    from django.test.utils import override_settings

    # The publishing side as deployed: with DEBUG on, Django times and keeps every statement of fill_apply's.
    with override_settings(DEBUG=False):
        return _run()


def _run():
    from tests.live_stack import LiveStack

    figures: list[dict] = []
    book = _Book(f"{time.time_ns()}")
    try:
        if {"latency", "fanout", "events"} & set(PARTS):
            with LiveStack(beat=False, worker=False) as stack:
                if "latency" in PARTS:
                    figures += _latency(book, stack)
                if "fanout" in PARTS:
                    figures += _fanout(book, stack)
                if "events" in PARTS:
                    figures += _fanout_events(book, stack)
    finally:
        book.close()
        connection.close()
    if "blotter" in PARTS:
        figures += _blotter()
    return figures
