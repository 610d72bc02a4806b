"""Readiness checks: one entry per component, each with its own short timeout."""

from __future__ import annotations

import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection


def _timed(fn):
    t0 = time.perf_counter()
    try:
        detail = fn()
        return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 2), **(detail or {})}
    except Exception as exc:  # readiness reports failures, it does not raise them
        return {"ok": False, "ms": round((time.perf_counter() - t0) * 1000, 2), "error": f"{type(exc).__name__}: {exc}"}


def check_database():
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {"vendor": connection.vendor}


def check_redis():
    from desk.redis import get_redis

    get_redis().ping()
    return {}


def check_celery():
    from celery import current_app as app

    replies = app.control.ping(timeout=1.0, limit=1)
    if not replies:
        raise RuntimeError("no Celery worker answered a ping within 1 s")
    return {"workers": sorted(name for r in replies for name in r)}


def check_channel_layer():
    layer = get_channel_layer()

    async def round_trip():
        channel = await layer.new_channel()
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "readyz.ping", "token": token})
        msg = await layer.receive(channel)
        if msg.get("token") != token:
            raise RuntimeError("channel layer returned a different message")

    async_to_sync(round_trip)()
    return {}


COMPONENTS = {
    "database": check_database,
    "redis": check_redis,
    "celery": check_celery,
    "channel_layer": check_channel_layer,
}


def readiness() -> tuple[bool, dict]:
    results = {name: _timed(fn) for name, fn in COMPONENTS.items()}
    ok = all(r["ok"] for r in results.values())
    return ok, results


# --- Prometheus multiprocess mode: the files of processes that are gone ----------------------------------------


def prometheus_dead_processes_mark() -> list[int]:
    """Mark every process whose metrics files are in ``PROMETHEUS_MULTIPROC_DIR`` but which no longer runs as dead
    (prometheus_client's ``mark_process_dead``: its live gauges leave the sum; its counters still count). A process
    that exits cleanly marks itself (``config.asgi``, ``config.celery``); this catches the ones that were killed.
    Run at each scrape: the directory is this machine's, so a pid that is not running here is gone.
    """
    import os
    import re
    from pathlib import Path

    from prometheus_client import multiprocess

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return []
    dead = []
    for pid in sorted({int(m.group(1)) for f in Path(path).glob("gauge_live*.db") if (m := re.search(r"_(\d+)\.db$", f.name))}):
        if pid != os.getpid() and not _pid_running(pid):
            multiprocess.mark_process_dead(pid, path)
            dead.append(pid)
    return dead


def _pid_running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) has stopped writing metrics: it is gone too.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
