"""The desk's own resources: each process's CPU and memory, Celery queues' depth and oldest task,
database connections, Redis memory, disk free.

- **Processes report themselves**: no process can read another machine's ``/proc``, and a beat
  task sees only its own worker. Each web process (``config/asgi.py``), Celery worker (its main
  process, pool children summed in; ``worker_ready``) and beat (``beat_init``) runs a
  ``ProcessReporter`` thread that writes a sample every ``DESK_PROCESS_HEARTBEAT_SECONDS`` into
  the Redis hash ``mon:procs`` (``<role>:<name>`` -> JSON). A clean shutdown removes its entry;
  a process that dies or hangs stops writing, and the ``process_silent`` rule says so.
- **Queues**: kombu keeps a Celery queue on Redis as a list (``LPUSH``, consumed by ``BRPOP``
  from the right), so the oldest waiting messages are the list's last ones. Every message
  carries when it was published (``desk.tasks.ENQUEUED_AT_HEADER``); a message with an ``eta``
  waits from its eta.
- **Database**: PostgreSQL's ``pg_stat_activity`` for this database against ``max_connections``;
  SQLite has no connections to count (``None``).
- **Redis**: ``INFO memory``: ``used_memory`` against ``maxmemory``, or the machine's memory
  when no ``maxmemory`` is set (``max_source`` says which).
- **Disk**: free and total bytes of the filesystem holding ``VAR_DIR`` (the SQLite file, the
  backups, the logs).

``resources_snapshot()`` gathers everything for the Monitoring page; ``ResourceCollector``
exposes the same numbers on ``/metrics`` at scrape time (one sample per process, so a process
that is gone disappears from the scrape instead of staying as a stale gauge).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings

log = logging.getLogger(__name__)

PROCS_KEY = "mon:procs"
PROCS_TTL_S = 86400  # the hash outlives any quiet spell, but not an abandoned desk
FORGET_AFTER_S = 600.0  # a process silent this long is gone for good: dropped from the list
SAMPLE_MESSAGES = 50  # how many of a queue's oldest messages are read for their age


# --- Processes ----------------------------------------------------------------------------


def _interval() -> float:
    return float(getattr(settings, "DESK_PROCESS_HEARTBEAT_SECONDS", 5.0))


class ProcessSampler:
    """CPU % (since the previous sample; 100 = one core busy) and resident memory of this process,
    and of its children when ``children`` (a prefork worker's pool)."""

    def __init__(self, pid: int | None = None, *, children: bool = False):
        import psutil

        self._psutil = psutil
        self.proc = psutil.Process(pid or os.getpid())
        self.children = children
        self._known: dict[int, object] = {}
        self.proc.cpu_percent(None)  # the first call only sets the baseline

    def sample(self) -> dict:
        procs = [self.proc]
        if self.children:
            try:
                kids = self.proc.children(recursive=True)
            except self._psutil.Error:
                kids = []
            alive = {p.pid for p in kids}
            for p in kids:
                if p.pid not in self._known:
                    self._known[p.pid] = p
                    try:
                        p.cpu_percent(None)
                    except self._psutil.Error:
                        pass
            for pid in list(self._known):
                if pid not in alive:
                    del self._known[pid]
            procs += list(self._known.values())
        cpu, rss = 0.0, 0
        for p in procs:
            try:
                with p.oneshot():
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
            except self._psutil.Error:
                continue
        return {"pid": self.proc.pid, "cpu_pct": round(cpu, 1), "rss_bytes": int(rss), "children": len(procs) - 1}


def heartbeat_write(*, role: str, name: str, sample: dict, started_at: float, now: float | None = None) -> None:
    """Store one process's sample in ``mon:procs`` (raises when Redis does not answer)."""
    from desk.redis import get_redis

    now = now if now is not None else time.time()
    entry = {"role": role, "name": name, "host": socket.gethostname(), "started_at": started_at, "ts": now,
             "interval_s": _interval(), **sample}
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(PROCS_KEY, f"{role}:{name}", json.dumps(entry))
    pipe.expire(PROCS_KEY, PROCS_TTL_S)
    pipe.execute()


def heartbeat_remove(*, role: str, name: str) -> None:
    from desk.redis import get_redis

    get_redis().hdel(PROCS_KEY, f"{role}:{name}")


class ProcessReporter(threading.Thread):
    """The thread that writes this process's heartbeat every ``interval`` seconds until stopped."""

    def __init__(self, *, role: str, name: str, children: bool = False, interval: float | None = None):
        super().__init__(name=f"desk-heartbeat-{role}", daemon=True)
        self.role, self.node = role, name
        self.interval = interval if interval is not None else _interval()
        self.sampler = ProcessSampler(children=children)
        self.started_at = time.time()
        self._stop_event = threading.Event()

    def beat(self) -> None:
        try:
            heartbeat_write(role=self.role, name=self.node, sample=self.sampler.sample(), started_at=self.started_at)
        except Exception as exc:  # Redis down: the next beat tries again; the process goes on
            log.debug("process heartbeat not written: %s", exc)

    def run(self) -> None:
        self.beat()
        while not self._stop_event.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(self.interval + 3)  # a beat in flight would write the entry back after its removal
        try:
            heartbeat_remove(role=self.role, name=self.node)  # a clean exit is not a silent process
        except Exception:
            pass


_reporter: ProcessReporter | None = None
_reporter_lock = threading.Lock()
_atexit_registered: list[bool] = []


def reporter_start(*, role: str, name: str | None = None, children: bool = False) -> ProcessReporter | None:
    """Start this process's heartbeat thread (once per process; off when the interval is 0)."""
    global _reporter
    if _interval() <= 0:
        return None
    with _reporter_lock:
        if _reporter is not None and _reporter.is_alive() and _reporter.pid == os.getpid():
            return _reporter
        _reporter = ProcessReporter(role=role, name=name or f"{socket.gethostname()}:{os.getpid()}", children=children)
        _reporter.pid = os.getpid()
        _reporter.start()
        if not _atexit_registered:
            # Beat has no shutdown signal, and any process may simply exit: a normal exit (SIGTERM
            # handled, SystemExit) removes the report too; only a killed or hung process stays silent.
            atexit.register(reporter_stop)
            _atexit_registered.append(True)
        return _reporter


def reporter_stop() -> None:
    global _reporter
    with _reporter_lock:
        if _reporter is not None and _reporter.pid == os.getpid():
            _reporter.stop()
        _reporter = None


def processes_list(*, now: float | None = None, forget_after: float = FORGET_AFTER_S) -> list[dict]:
    """Every process that reported, by role and name, with ``age_s`` since its last sample.
    Entries silent for ``forget_after`` seconds are deleted (the process is gone for good)."""
    from desk.redis import get_redis

    now = now if now is not None else time.time()
    r = get_redis()
    rows, gone = [], []
    for field, raw in r.hgetall(PROCS_KEY).items():
        try:
            entry = json.loads(raw)
        except ValueError:
            gone.append(field)
            continue
        entry["key"] = field.decode()
        entry["age_s"] = round(now - float(entry.get("ts", 0)), 1)
        (gone.append(field) if entry["age_s"] > forget_after else rows.append(entry))
    if gone:
        r.hdel(PROCS_KEY, *gone)
    return sorted(rows, key=lambda e: (e.get("role", ""), e.get("name", "")))


# --- Queues -------------------------------------------------------------------------------


def broker_client():
    """A client of the Celery broker when it is Redis (None for another broker)."""
    import redis

    from desk.redis import get_redis

    url = settings.CELERY_BROKER_URL
    if url == settings.REDIS_URL:
        return get_redis()
    if not url.startswith(("redis://", "rediss://")):
        return None  # another broker (RabbitMQ): its own exporter reports its queues
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _message_wait_start(raw: bytes) -> float | None:
    """When a message began waiting: its publish time, or its eta when that is later."""
    from desk.tasks import ENQUEUED_AT_HEADER

    try:
        headers = (json.loads(raw).get("headers") or {})
    except (ValueError, AttributeError):
        return None
    try:
        start = float(headers[ENQUEUED_AT_HEADER])
    except (KeyError, TypeError, ValueError):
        start = None  # published by a process without the desk's publish hook
    eta = headers.get("eta")
    if eta:
        try:
            eta_ts = datetime.fromisoformat(str(eta)).timestamp()
            start = eta_ts if start is None else max(start, eta_ts)
        except ValueError:
            pass
    return start


def queue_stats(queues: Iterable[str] | None = None, *, now: float | None = None) -> dict[str, dict]:
    """``{queue: {"depth", "oldest_age_s"}}`` on the Redis broker (``{}`` with another broker);
    ``oldest_age_s`` is None for an empty queue or messages without a publish time. Raises when
    the broker does not answer."""
    client = broker_client()
    if client is None:
        return {}
    now = now if now is not None else time.time()
    names = list(queues or settings.DESK_QUEUES)
    pipe = client.pipeline(transaction=False)
    for q in names:
        pipe.llen(q)
        pipe.lrange(q, -SAMPLE_MESSAGES, -1)
    raw = pipe.execute()
    out = {}
    for i, q in enumerate(names):
        starts = [s for s in (_message_wait_start(m) for m in raw[2 * i + 1]) if s is not None]
        out[q] = {"depth": int(raw[2 * i]), "oldest_age_s": round(max(0.0, now - min(starts)), 1) if starts else None}
    return out


# --- Database, Redis, disk ------------------------------------------------------------------


def db_connections() -> dict | None:
    """Connections to this database by state, against the server's ``max_connections``
    (PostgreSQL); None for SQLite, which has none."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(state, 'other'), count(*) FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1"
        )
        by_state = {state: int(n) for state, n in cur.fetchall()}
        cur.execute("SHOW max_connections")
        max_conn = int(cur.fetchone()[0])
    total = sum(by_state.values())
    return {"vendor": "postgresql", "total": total, "by_state": by_state, "max": max_conn,
            "pct": round(100.0 * total / max_conn, 1) if max_conn else None}


def redis_memory() -> dict:
    """``INFO memory`` of the desk's Redis; ``pct`` of ``maxmemory``, or of the machine's memory without one."""
    from desk.redis import get_redis

    info = get_redis().info("memory")
    used = int(info.get("used_memory", 0))
    limit = int(info.get("maxmemory", 0) or 0)
    source = "maxmemory"
    if not limit:
        limit, source = int(info.get("total_system_memory", 0) or 0), "system memory"
    return {"used": used, "max": limit or None, "max_source": source if limit else None,
            "pct": round(100.0 * used / limit, 1) if limit else None}


def disk_usage(path: str | os.PathLike | None = None) -> dict:
    path = str(path or settings.VAR_DIR)
    du = shutil.disk_usage(path)
    return {"path": path, "free": du.free, "total": du.total, "free_pct": round(100.0 * du.free / du.total, 2) if du.total else None}


def _section(fn):
    try:
        return fn(), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


def resources_snapshot(*, now: float | None = None) -> dict:
    """Everything above, each part with its own error (one source down hides only its part)."""
    now = now if now is not None else time.time()
    out: dict = {"now": now, "errors": {}}
    for key, fn in (("processes", lambda: processes_list(now=now)), ("queues", lambda: queue_stats(now=now)),
                    ("database", db_connections), ("redis", redis_memory), ("disk", disk_usage)):
        value, error = _section(fn)
        out[key] = value
        if error:
            out["errors"][key] = error
    return out


# --- Prometheus ---------------------------------------------------------------------------


class ResourceCollector:
    """A ``prometheus_client`` collector: the snapshot, read when ``/metrics`` is scraped."""

    def __init__(self, snapshot: dict | None = None):
        self._snapshot = snapshot

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        s = self._snapshot or resources_snapshot()
        cpu = GaugeMetricFamily("desk_process_cpu_percent", "CPU of each desk process (pool children summed in; 100 = one core)",
                                labels=["role", "process"])
        rss = GaugeMetricFamily("desk_process_resident_memory_bytes", "Resident memory of each desk process (pool children summed in)",
                                labels=["role", "process"])
        age = GaugeMetricFamily("desk_process_heartbeat_age_seconds", "Seconds since each desk process last reported",
                                labels=["role", "process"])
        for p in s.get("processes") or []:
            labels = [p.get("role", ""), p.get("name", "")]
            cpu.add_metric(labels, float(p.get("cpu_pct", 0)))
            rss.add_metric(labels, float(p.get("rss_bytes", 0)))
            age.add_metric(labels, float(p.get("age_s", 0)))
        yield from (cpu, rss, age)
        oldest = GaugeMetricFamily("desk_celery_queue_oldest_task_age_seconds", "Age of the oldest message waiting per queue (0: empty)",
                                   labels=["queue"])
        for q, st in (s.get("queues") or {}).items():
            oldest.add_metric([q], float(st["oldest_age_s"] or 0.0))
        yield oldest
        db = s.get("database")
        if db:
            conns = GaugeMetricFamily("desk_db_connections", "Connections to the desk's database by state (pg_stat_activity)", labels=["state"])
            for state, n in db["by_state"].items():
                conns.add_metric([state], n)
            yield conns
            yield GaugeMetricFamily("desk_db_connections_max", "The database server's max_connections", value=db["max"])
        redis_mem = s.get("redis")
        if redis_mem:
            yield GaugeMetricFamily("desk_redis_memory_used_bytes", "Redis used_memory", value=redis_mem["used"])
            if redis_mem["max"]:
                yield GaugeMetricFamily("desk_redis_memory_max_bytes", "Redis maxmemory (or the machine's memory without one)",
                                        value=redis_mem["max"])
        disk = s.get("disk")
        if disk:
            yield GaugeMetricFamily("desk_disk_free_bytes", "Free bytes on the filesystem of the desk's data directory", value=disk["free"])
            yield GaugeMetricFamily("desk_disk_total_bytes", "Size of the filesystem of the desk's data directory", value=disk["total"])


def metrics_text(snapshot: dict | None = None) -> bytes:
    """The collector's exposition text (appended to the scrape by ``ops_app.views.metrics``)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResourceCollector(snapshot))
    return generate_latest(registry)
