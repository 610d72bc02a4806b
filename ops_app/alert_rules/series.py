"""Per-minute monitoring series kept in Redis: requests, 5xx errors, latency samples,
queue depths; and the Celery workers' last answers to a ping.

Layout (every key expires after ``TTL_S``, so nothing grows without bound):

- ``mon:m:<epoch minute>`` hash: ``req``, ``err`` (5xx), ``q:<queue>`` (deepest seen that minute)
- ``mon:lat:<epoch minute>`` list: request latencies in ms, the last ``LAT_CAP`` of the minute
- ``mon:workers`` hash: worker node name -> ``{"first_seen", "last_seen"}`` (epoch seconds)

Every process writes here (the ASGI processes through ``RequestSeriesMiddleware``,
the rule evaluation task for queues and workers), so the series are the desk's,
not one process's.  Recording never fails a request: when Redis does not answer,
this process stops trying for ``BACKOFF_S``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable

from django.conf import settings

from desk import metrics
from desk.redis import get_redis

TTL_S = 2 * 3600
LAT_CAP = 1000
SKIP_PREFIXES = ("/static/", "/metrics", "/healthz", "/readyz", "/favicon")
WORKERS_KEY = "mon:workers"
BACKOFF_S = 5.0
_down_until = 0.0  # per-process circuit breaker (a cache, not state another process needs)


def minute_of(ts: float) -> int:
    return int(ts // 60)


def _available() -> bool:
    return time.monotonic() >= _down_until


def _trip() -> None:
    global _down_until
    _down_until = time.monotonic() + BACKOFF_S


def request_record(*, ms: float, status: int, ts: float | None = None) -> None:
    """Count one request (and a 5xx) in its minute, and keep its latency sample."""
    if not _available():
        return
    minute = minute_of(ts if ts is not None else time.time())
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hincrby(f"mon:m:{minute}", "req", 1)
        if status >= 500:
            pipe.hincrby(f"mon:m:{minute}", "err", 1)
        pipe.expire(f"mon:m:{minute}", TTL_S)
        pipe.rpush(f"mon:lat:{minute}", round(ms, 2))
        pipe.ltrim(f"mon:lat:{minute}", -LAT_CAP, -1)
        pipe.expire(f"mon:lat:{minute}", TTL_S)
        pipe.execute()
    except Exception:
        _trip()


class RequestSeriesMiddleware:
    """Feeds the error-rate and latency rules and the Monitoring page's charts (one Redis round trip)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        t0 = time.perf_counter()
        response = self.get_response(request)
        if not request.path.startswith(SKIP_PREFIXES):
            request_record(ms=(time.perf_counter() - t0) * 1000, status=response.status_code)
        return response


# --- Queues -------------------------------------------------------------------------------


def queue_depths(queues: Iterable[str] | None = None) -> dict[str, int]:
    """``LLEN`` of each Celery queue on the Redis broker (kombu keeps a queue as a list of that name).

    Sets ``desk_celery_queue_depth`` and records the deepest value of the minute. Raises when Redis does not answer.
    """
    from ops_app.resources import broker_client

    client = broker_client()
    if client is None:
        return {}
    names = list(queues or settings.DESK_QUEUES)
    pipe = client.pipeline(transaction=False)
    for q in names:
        pipe.llen(q)
    depths = dict(zip(names, (int(n) for n in pipe.execute())))
    minute = minute_of(time.time())
    pipe = get_redis().pipeline(transaction=False)
    for q, n in depths.items():
        metrics.queue_depth.labels(q).set(n)
        pipe.eval(_HMAX, 1, f"mon:m:{minute}", f"q:{q}", n)
    pipe.expire(f"mon:m:{minute}", TTL_S)
    pipe.execute()
    return depths


# Keep the larger of the stored and the new value (the deepest the queue was that minute).
_HMAX = "local v = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1'); " \
        "if tonumber(ARGV[2]) > v then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end; return 1"


# --- Workers ---------------------------------------------------------------------------------


def workers_ping(*, timeout: float = 1.0, now: float | None = None) -> dict[str, dict]:
    """Ping every Celery worker (remote control broadcast) and store who answered, when.

    Returns every known worker: ``{name: {"first_seen", "last_seen", "answered"}}``.
    Waits the whole ``timeout`` (no reply limit): a new worker answering first must not
    crowd out a known one, which would then look missing.
    """
    from celery import current_app as app

    now = now if now is not None else time.time()
    r = get_redis()
    known = {k.decode(): json.loads(v) for k, v in r.hgetall(WORKERS_KEY).items()}
    replies = app.control.ping(timeout=timeout) or []
    answered = {name for reply in replies for name in reply}
    for name in answered:
        entry = known.get(name) or {"first_seen": now}
        entry["last_seen"] = now
        known[name] = entry
    if answered:
        r.hset(WORKERS_KEY, mapping={n: json.dumps(known[n]) for n in answered})
    return {n: {**e, "answered": n in answered} for n, e in known.items()}


def workers_forget(names: Iterable[str]) -> None:
    names = list(names)
    if names:
        get_redis().hdel(WORKERS_KEY, *names)


def workers_list() -> list[dict]:
    """Known workers, newest answer first, with the age of their last answer (for the Monitoring page)."""
    now = time.time()
    rows = [
        {"name": k.decode(), **json.loads(v)} for k, v in get_redis().hgetall(WORKERS_KEY).items()
    ]
    for row in rows:
        row["age_s"] = round(now - row["last_seen"], 1)
    return sorted(rows, key=lambda r: r["age_s"])


# --- Reading the series ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[k]


def series_read(minutes: int = 60, *, now: float | None = None) -> list[dict]:
    """The last ``minutes`` minutes, oldest first: requests, errors, error %, p50/p99 ms, queue depths."""
    now = now if now is not None else time.time()
    last = minute_of(now)
    span = list(range(last - minutes + 1, last + 1))
    pipe = get_redis().pipeline(transaction=False)
    for m in span:
        pipe.hgetall(f"mon:m:{m}")
        pipe.lrange(f"mon:lat:{m}", 0, -1)
    raw = pipe.execute()
    out = []
    for i, m in enumerate(span):
        h = {k.decode(): v.decode() for k, v in raw[2 * i].items()}
        lat = [float(x) for x in raw[2 * i + 1]]
        req, err = int(h.get("req", 0)), int(h.get("err", 0))
        out.append({
            "t": m * 60, "requests": req, "errors": err, "error_pct": (100.0 * err / req) if req else None,
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "latencies": lat,
            "queues": {k[2:]: int(v) for k, v in h.items() if k.startswith("q:")},
        })
    return out


def window_stats(minutes: int, *, now: float | None = None) -> dict:
    """Requests, errors, error % and p99 over the last ``minutes`` minutes (the current one included)."""
    rows = series_read(max(1, minutes), now=now)
    req = sum(r["requests"] for r in rows)
    err = sum(r["errors"] for r in rows)
    lat = [x for r in rows for x in r["latencies"]]
    return {"requests": req, "errors": err, "error_pct": (100.0 * err / req) if req else 0.0,
            "p99_ms": percentile(lat, 99), "samples": len(lat)}
