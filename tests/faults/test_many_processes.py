"""More than one of each process, as ``make run`` and a deployment run them: two ASGI web processes and two
prefork Celery workers (and one beat) on the same PostgreSQL and Redis.

- Orders placed through either web process are each routed once and filled once; every scheduled task that beat
  sends runs once, on one worker; every websocket client, whichever web process holds its socket, sees every fill.
- ``/metrics`` on one web process serves what the other web process and the workers counted (prometheus_client's
  multiprocess mode), and a killed process's live gauges leave the sum.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict

import pytest

from tests.faults.harness import Api, invariant_violations, make_books, stack_env, token_for, wait_terminal

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SYMBOLS = ("AAPL", "MSFT", "KO", "PFE", "XOM", "JNJ")


def wait_for(fn, *, timeout: float, message: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:  # noqa: S310 - loopback
        return r.read().decode()


def sample(text: str, name: str, **labels) -> float:
    """The value of one series (all the given labels match) in Prometheus text; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        got = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if series.split("{")[0] == name and all(got.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Socket:
    """A websocket client of ``/ws/desk/`` on one web process, collecting every message in a thread."""

    def __init__(self, base_url: str, cookie: str):
        from websockets.sync.client import connect

        host = base_url.removeprefix("http://")
        self.ws = connect(f"ws://{host}/ws/desk/", origin=base_url, additional_headers={"Cookie": f"sessionid={cookie}"},
                          open_timeout=10)
        self.messages: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                self.messages.append(json.loads(raw))
        except Exception:  # noqa: BLE001 - closed
            return

    def of_type(self, kind: str) -> list[dict]:
        return [m for m in list(self.messages) if m.get("type") == kind]

    def close(self) -> None:
        self.ws.close()
        self.thread.join(5)


class TaskEvents:
    """Every task a worker received and started (Celery task events, ``-E``), watched from a thread."""

    def __init__(self, broker_url: str):
        from config.celery import app

        self.received: dict[str, dict] = {}
        self.started: Counter = Counter()
        self.started_on: dict[str, str] = {}
        self._conn = app.connection_for_read(broker_url)
        self._recv = app.events.Receiver(self._conn, handlers={
            "task-received": lambda e: self.received.setdefault(e["uuid"], e),
            "task-started": self._started,
        })
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _started(self, event) -> None:
        self.started[event["uuid"]] += 1
        self.started_on[event["uuid"]] = event["hostname"]

    def _run(self) -> None:
        try:
            self._recv.capture(limit=None, timeout=None, wakeup=False)
        except Exception:  # noqa: BLE001 - stopped
            return

    def stop(self) -> None:
        self._recv.should_stop = True
        self._thread.join(5)
        self._conn.release()


def test_desk_when_two_web_processes_and_two_workers_then_orders_routed_once_schedules_run_once_and_every_socket_sees_every_fill(
    own_redis, desk_data, tmp_path
):
    from django.conf import settings

    from orders_app.models import Fill
    from portfolio_app.models import Portfolio
    from tests.live_stack import LiveStack

    trader = desk_data
    books = make_books(2, trader)
    cash_before = {b.pk: Portfolio.objects.get(pk=b.pk).cash for b in books}
    # A sweep grace longer than the test: every routing below is the first, none a sweeper's re-enqueue.
    env = {**stack_env(redis_url=own_redis.url, grace_s=600.0), "DESK_HEARTBEAT_SECONDS": "1"}
    with LiveStack(web=2, workers=2, beat=True, extra_env=env, task_events=True, metrics_dir=tmp_path / "prom") as stack:
        events = TaskEvents(own_redis.url)
        cookie = session_cookie(trader)
        sockets = [Socket(url, cookie) for url in stack.urls for _ in range(2)]  # two browsers on each web process
        try:
            wait_for(lambda: all(s.of_type("hello") for s in sockets), timeout=20, message="every socket's hello")
            apis = [Api(url, token_for(trader)) for url in stack.urls]
            run = uuid.uuid4().hex[:6]
            ids = [f"M{run}-{i}" for i in range(24)]
            refused = []
            for i, cid in enumerate(ids):  # alternately through each web process
                status, body = apis[i % 2].place(portfolio=books[i % 2].pk, symbol=SYMBOLS[i % len(SYMBOLS)],
                                                 quantity=10 + i, client_order_id=cid, until=60)
                if status != 201:
                    refused.append((cid, status, body))
            assert refused == []
            statuses = wait_terminal(ids, timeout=180)
            fills = {f.trade_id for f in Fill.objects.filter(order__portfolio__in=books)}
            wait_for(lambda: all({m["data"]["trade_id"] for m in s.of_type("fill.created")} >= fills for s in sockets),
                     timeout=30, message="every fill on every socket")
            heartbeats = wait_for(lambda: [m for s in sockets for m in s.of_type("heartbeat")]
                                  if len({m["data"]["worker"] for s in sockets for m in s.of_type("heartbeat")}) >= 2 else None,
                                  timeout=60, message="heartbeats from two worker processes")
            scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
            wait_for(lambda: len([t for t, e in list(events.received.items()) if e.get("name") in scheduled
                                  and events.started[t]]) >= 10, timeout=60, message="ten of beat's messages started")
            time.sleep(1.0)  # a message started twice would say so within a second
        finally:
            for s in sockets:
                s.close()
            events.stop()

    # Orders: each through either web process, routed once, filled once; the books equal the fills.
    assert set(statuses.values()) == {"FILLED"} and len(statuses) == len(ids)
    assert invariant_violations([b.pk for b in books], cash_before) == []
    routed = defaultdict(list)
    for task_id, e in events.received.items():
        if e.get("name") == "orders_app.tasks.order_route":
            routed[e["args"]].append(task_id)
    assert len(routed) == len(ids)
    assert all(len(tasks) == 1 for tasks in routed.values()), {a: t for a, t in routed.items() if len(t) > 1}
    # Schedules: every message beat sent started once, on one of the two workers; both workers took some.
    beat_tasks = [t for t, e in events.received.items() if e.get("name") in scheduled and events.started[t]]
    assert len(beat_tasks) >= 10
    assert {t: events.started[t] for t in beat_tasks if events.started[t] != 1} == {}
    assert len({events.started_on[t] for t in events.started}) == 2
    # Sockets: all four saw every fill, whichever web process held them; the two workers' heartbeats reached them.
    for s in sockets:
        assert {m["data"]["trade_id"] for m in s.of_type("fill.created")} >= fills
    assert len({h["data"]["worker"] for h in heartbeats}) >= 2


def test_metrics_when_scraped_on_one_web_process_then_counts_of_the_other_and_of_the_workers_and_killed_gauges_leave(
    own_redis, desk_data, tmp_path
):
    from tests.live_stack import LiveStack

    trader = desk_data
    prom = tmp_path / "prom"
    env = {**stack_env(redis_url=own_redis.url), "DESK_HEARTBEAT_SECONDS": "1"}
    with LiveStack(web=2, workers=2, beat=True, extra_env=env, metrics_dir=prom) as stack:
        first, second = stack.urls
        healthz = dict(name="django_http_requests_total_by_view_transport_method_total", view="healthz", method="GET")
        before = sample(scrape(first), **healthz)
        for _ in range(7):  # only the second web process serves these
            urllib.request.urlopen(second + "/healthz", timeout=5).read()  # noqa: S310 - loopback
        text = scrape(first)
        assert sample(text, **healthz) - before == 7

        # The workers' tasks (beat's heartbeats) show on the web process, written by each worker's pool children.
        beat = dict(name="desk_celery_task_seconds_count", task="ops_app.tasks.heartbeat_publish")
        wait_for(lambda: sample(scrape(first), **beat) >= 4, timeout=60, message="the workers' heartbeat tasks")
        import psutil

        children = {c.pid for w in stack.worker_procs for c in psutil.Process(w.pid).children(recursive=True)}
        writers = {int(m.group(1)) for f in prom.glob("histogram_*.db") if (m := re.search(r"_(\d+)\.db$", f.name))}
        assert writers & children

        # A live gauge (open websockets) is the sum over processes; a killed web process's sockets leave it.
        sockets = [Socket(second, session_cookie(trader)) for _ in range(2)]
        wait_for(lambda: sample(scrape(first), "desk_websocket_connections") == 2, timeout=20,
                 message="the second web process's two sockets counted on the first")
        stack.web_procs[1].kill()
        stack.web_procs[1].wait(10)
        for s in sockets:
            s.close()
        assert sample(scrape(first), "desk_websocket_connections") == 0
        assert sample(scrape(first), **healthz) - before >= 7  # the dead process's counters still count
