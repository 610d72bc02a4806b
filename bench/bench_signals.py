"""Signal ingest.

1. Batch: 10,000 signals per POST /api/v1/signals/ through the whole API stack
   (token auth, msgspec parse, column-wise validation, bulk insert, response),
   driven in-process by DRF's APIClient (no HTTP server or socket), vs a raw
   COPY (PostgreSQL) / executemany (SQLite) of the same rows in the same run.
2. Single signal: one signal per POST at 16 concurrent keep-alive clients
   against a real uvicorn server with as many web processes as ``make run`` starts
   (``DESK_WEB_WORKERS``, default 2), vs the bare authenticated DRF endpoint
   GET /api/v1/me/ measured the same way in the same run; with the server's CPU per
   request (every web process). The load generator (16 threads in this process)
   shares the machine's cores with the server.

Everything inserted (bench users, agent, signals, instruments it had to create) is removed.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from django.conf import settings

from bench.cpu import CpuMeter
from django.db import connection, transaction
from django.test import override_settings

BATCH = 10_000
REPEATS = 5
CLIENTS = 16
DURATION_S = 6.0
WEB_WORKERS = int(os.environ.get("DESK_WEB_WORKERS", "2"))  # as the Procfile's web line
MARKET_NOW = datetime(2022, 3, 7, 15, 0, tzinfo=timezone.utc)
BOT, ADMIN, AGENT = "bench-signals-bot", "bench-signals-admin", "bench-signals-agent"


def _batch(symbols: list[str], tag: str) -> bytes:
    gen = (MARKET_NOW - timedelta(minutes=5)).isoformat()
    return json.dumps([
        {"agent": AGENT, "symbol": symbols[k % len(symbols)], "score": round(((k * 37) % 2001 - 1000) / 1000, 3),
         "confidence": 0.75, "horizon_days": 5, "generated_at": gen, "client_signal_id": f"{tag}-{k}",
         "metadata": {"model": "bench"}}
        for k in range(BATCH)
    ]).encode()


def _raw_insert(rows: list[tuple]) -> float:
    from signals_app.models import Signal

    table = Signal._meta.db_table
    cols = "agent_id, instrument_id, score, confidence, horizon_days, generated_at, client_signal_id, metadata, received_at"
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    return time.perf_counter() - t0


def _batch_ingest(client, agent, ids: dict[str, int]) -> list[dict]:
    from signals_app.models import Signal

    symbols = sorted(ids)
    api_times, raw_times = [], []
    for rep in range(REPEATS + 1):  # the first round warms caches and is not counted
        body = _batch(symbols, f"b{rep}-{time.time_ns()}")
        t0 = time.perf_counter()
        response = client.post("/api/v1/signals/", data=body, content_type="application/json")
        elapsed = time.perf_counter() - t0
        assert response.status_code == 201, response.content[:300]
        Signal.objects.filter(agent=agent).delete()
        items = json.loads(body)
        now = datetime.now(timezone.utc)
        rows = [(agent.id, ids[i["symbol"]], f"{i['score']:.5f}", "0.75000", "5.000", MARKET_NOW - timedelta(minutes=5),
                 i["client_signal_id"], json.dumps(i["metadata"]), now) for i in items]
        raw = _raw_insert(rows)
        Signal.objects.filter(agent=agent).delete()
        if rep:
            api_times.append(elapsed)
            raw_times.append(raw)
    t_api, t_raw = statistics.median(api_times), statistics.median(raw_times)
    ref = "COPY" if connection.vendor == "postgresql" else "executemany"
    return [
        {"name": "signals.batch_ingest_10k", "value": BATCH / t_api, "unit": "signals/s", "goal": ">= 20,000; ratio >= 0.1 (aim 0.25)",
         "ratio": round(t_raw / t_api, 3), "ref": f"raw {ref} of the same rows",
         "note": f"median of {REPEATS} POSTs of {BATCH:,}: {t_api * 1000:.0f} ms vs raw {t_raw * 1000:.0f} ms; "
                 f"in-process APIClient, no HTTP server, DEBUG off ({connection.vendor})"},
        {"name": "signals.raw_insert_10k", "value": BATCH / t_raw, "unit": "signals/s", "note": f"raw {ref} reference ({connection.vendor})"},
    ]


# ---------------------------------------------------------------------------
# Single-signal POSTs against a real server


def _database_url() -> str:
    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    auth = d.get("USER") or ""
    auth = f"{auth}:{d['PASSWORD']}@" if d.get("PASSWORD") else (f"{auth}@" if auth else "")
    return f"postgres://{auth}{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{d['NAME']}"


def _server():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Production settings (DEBUG off: no query logging), plain HTTP on loopback.
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL, "DJANGO_LOG_LEVEL": "WARNING",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_DEBUG": "False", "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
           "DJANGO_SECURE_SSL_REDIRECT": "False", "DJANGO_SECURE_COOKIES": "False", "DJANGO_HSTS_SECONDS": "0"}
    log = open(Path(settings.VAR_DIR) / "bench-signals-uvicorn.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(WEB_WORKERS), "--no-access-log", "--log-level", "warning"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310 - loopback
            return proc, port, log
        except Exception:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("uvicorn did not start; see var/bench-signals-uvicorn.log")


def _clients(port: int, token: str, make_request, duration: float, rate: float | None = None, first: int = 0):
    """CLIENTS threads, each on one keep-alive connection, for ``duration`` seconds: back to back, or (``rate``) an
    open loop offering ``rate`` requests/s in all, each client on its own schedule, each request timed from when it was
    due (a late start counts against the desk: no coordinated omission). (latencies ms, errors, wall seconds)"""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Host": "127.0.0.1"}
    every = CLIENTS / rate if rate else 0.0
    start = time.perf_counter() + (0.2 if rate else 0.0)

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        k = 0
        due = start + n * every / CLIENTS
        while (due if rate else time.perf_counter()) < start + duration:
            if rate:
                time.sleep(max(0.0, due - time.perf_counter()))
            else:
                due = time.perf_counter()
            method, path, body = make_request(n, first + k)
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            latencies[n].append((time.perf_counter() - due) * 1000)
            errors[n] += resp.status >= 300
            k += 1
            due += every
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for xs in latencies for x in xs], sum(errors), time.perf_counter() - t0


def _load(port: int, token: str, make_request, duration: float, server_pid: int | None = None):
    """Back to back for ``duration`` seconds: (req/s, latencies ms, errors, the server's CPU-ms per request)."""
    with CpuMeter([server_pid] if server_pid else []) as cpu:
        flat, errors, wall = _clients(port, token, make_request, duration)
    return len(flat) / wall, flat, errors, cpu.ms_per(len(flat))


def _paced(port: int, token: str, make_request, rate: float, duration: float) -> tuple[list[float], int]:
    """An open loop at ``rate`` requests/s in all (``_clients``): (latencies ms, errors)."""
    flat, errors, _ = _clients(port, token, make_request, duration, rate=rate, first=10**6)
    return flat, errors


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _single_post(token: str, symbols: list[str]) -> list[dict]:
    proc, port, log = _server()
    run_tag = time.time_ns()
    # Wall time: live under any replay clock the server's database may be anchored at.
    gen = datetime.now(timezone.utc).isoformat()

    def post(n: int, k: int):
        body = json.dumps({"agent": AGENT, "symbol": symbols[k % len(symbols)], "score": 0.25, "confidence": 0.5,
                           "horizon_days": 5, "generated_at": gen, "client_signal_id": f"s{run_tag}-{n}-{k}"})
        return "POST", "/api/v1/signals/", body

    def me(n: int, k: int):
        return "GET", "/api/v1/me/", None

    try:
        _load(port, token, me, 1.5)  # warm-up: imports, connections
        _load(port, token, post, 1.5)
        me_rps, me_lat, me_err, me_cpu = _load(port, token, me, DURATION_S, proc.pid)
        post_rps, post_lat, post_err, post_cpu = _load(port, token, post, DURATION_S, proc.pid)
        rate = round(post_rps / 2)  # latency where the desk is not saturated: at half the rate it sustains
        paced_lat, paced_err = _paced(port, token, post, rate, DURATION_S)
        me_paced_lat, _ = _paced(port, token, me, rate, DURATION_S)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    note = (f"{CLIENTS} keep-alive clients (threads in the bench process, sharing the {os.cpu_count()} cores with "
            f"{WEB_WORKERS} uvicorn process(es)), {DURATION_S:.0f} s each; errors {post_err}/{me_err}; {connection.vendor}")
    return [
        {"name": "signals.single_post_rps", "value": post_rps, "unit": "req/s", "goal": "ratio >= 0.5",
         "ratio": round(post_rps / me_rps, 3), "ref": "GET /api/v1/me/ (bare authenticated DRF) same run",
         "note": note},
        {"name": "signals.single_post_p50", "value": _pct(paced_lat, 50), "unit": "ms",
         "ratio": round(_pct(paced_lat, 50) / _pct(me_paced_lat, 50), 2), "ref": f"/me/ p50 {_pct(me_paced_lat, 50):.1f} ms",
         "note": f"offered at {rate} req/s (half the rate sustained), open loop, latency from when each was due; errors {paced_err}"},
        {"name": "signals.single_post_p99", "value": _pct(paced_lat, 99), "unit": "ms", "goal": "<= 50",
         "ratio": round(_pct(paced_lat, 99) / _pct(me_paced_lat, 99), 2), "ref": f"/me/ p99 {_pct(me_paced_lat, 99):.1f} ms",
         "note": f"as p50, {len(paced_lat)} requests"},
        {"name": "signals.single_post_saturated_p99", "value": _pct(post_lat, 99), "unit": "ms",
         "note": f"{CLIENTS} clients back to back (p50 {_pct(post_lat, 50):.0f} ms: {CLIENTS} in flight / the rate, queueing); "
                 f"/me/ p99 {_pct(me_lat, 99):.1f} ms"},
        {"name": "signals.me_rps", "value": me_rps, "unit": "req/s", "note": "reference: GET /api/v1/me/"},
        {"name": "signals.single_post_cpu_ms", "value": round(post_cpu, 2), "unit": "CPU-ms", "ratio": round(post_cpu / me_cpu, 2),
         "ref": f"GET /api/v1/me/ {me_cpu:.2f} CPU-ms", "note": "every web process's CPU per request (not the database's)"},
    ]


def run() -> list[dict]:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from ops_app import demo
    from desk import roles
    from ops_app.accounts import desk_user_create
    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from signals_app.models import Agent, Signal
    from signals_app.services import agent_create
    from market_app.models import Instrument

    before = set(Instrument.objects.values_list("symbol", flat=True))
    _, all_ids = demo.instruments_ensure()
    ids = {s: i for s, i in all_ids.items() if s != demo.INDEX_SYMBOL}
    User = get_user_model()
    admin, _, _ = desk_user_create(username=ADMIN, role=roles.ADMIN)
    bot, token, _ = desk_user_create(username=BOT, role=roles.API_CLIENT)
    agent = Agent.objects.filter(name=AGENT).first() or agent_create(actor=admin, name=AGENT, type="external", owner=bot)
    set_clock(SteppedClock(MARKET_NOW))
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        # As in production: DEBUG off, so no per-query logging (for the raw reference too).
        with override_settings(DEBUG=False):
            figures = _batch_ingest(client, agent, ids)
        figures += _single_post(token.key, sorted(ids))
    finally:
        set_clock(None)
        Signal.objects.filter(agent=agent).delete()
        Agent.history.filter(id=agent.id).delete()
        agent.delete()
        User.objects.filter(username__in=[BOT, ADMIN]).delete()
        Instrument.objects.exclude(symbol__in=before).filter(symbol__in=list(all_ids)).delete()
    return figures
