"""The event publisher: the one way any app tells browsers that something happened.

``event_publish`` sends *after commit* (STYLE.md rule 7): if the surrounding
transaction rolls back, nothing is pushed. Each group carries its own sequence
number (Redis ``INCR``) so a page can see a gap and re-fetch the panel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

from channels.layers import get_channel_layer
from django.db import transaction

from desk import metrics
from desk.redis import get_redis

log = logging.getLogger(__name__)

SEQ_KEY = "desk:seq:{group}"

# The typed events browsers receive (UI issue); a publish of any other type is a bug.
EVENT_TYPES = frozenset(
    {
        "heartbeat",
        "fill.created",
        "order.updated",
        "proposal.updated",
        "alert.raised",
        "alert.updated",
        "alert.resolved",
        "risk.state_changed",
        "signal.received",
        "price.tick",
        "limit.updated",
        "run.progress",
        "access.changed",
    }
)


def jsonable(value: Any) -> Any:
    """Decimals as strings (never floats), datetimes as ISO 8601 UTC."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def next_sequence(group: str) -> int:
    return int(get_redis().incr(SEQ_KEY.format(group=group)))


class _PublisherLoop:
    """One event loop thread per process for sending to the channel layer.

    channels_redis keeps its connection pool per event loop; ``async_to_sync`` from
    sync code would run each send on a fresh loop and open a new connection every
    time. A long-lived loop keeps the pool warm (a per-process cache, not shared state).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked worker needs its own
                self._pid = os.getpid()
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="desk-publisher", daemon=True).start()
            return self._loop

    def run(self, coro, timeout: float = 5.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop()).result(timeout)


_publisher = _PublisherLoop()


def send_now(event_type: str, payload: Mapping[str, Any], groups: Iterable[str]) -> None:
    """Push immediately. Use ``event_publish`` unless you are outside any transaction by design."""
    layer = get_channel_layer()
    data = jsonable(payload)
    for group in groups:
        try:
            message = {"type": event_type, "seq": next_sequence(group), "group": group, "data": data}
            _publisher.run(layer.group_send(group, message))
            metrics.events_pushed.labels(event_type).inc()
        except Exception:  # a push must never break the business transaction that caused it
            log.exception("event push failed", extra={"event_type": event_type, "group": group})


# High-rate streams are conflated: at most one push per group per window, carrying
# the latest values ("merge": later keys win, e.g. the last tick per symbol) or every
# item since the last push ("append", capped, e.g. signals). Fills and order changes
# are never conflated.
CONFLATED = {"price.tick": "merge", "signal.received": "append"}
CONFLATE_WINDOW_MS = 100
APPEND_CAP = 200
_PENDING = "desk:pending:{group}:{type}"
_WINDOW = "desk:window:{group}:{type}"


def _merge(kind: str, items: list[dict]) -> dict:
    if kind == "append":
        flat = []
        for item in items:
            flat.extend(item.get("items", [item]))
        return {"items": flat[-APPEND_CAP:], "dropped": max(0, len(flat) - APPEND_CAP)}
    merged: dict = {}
    for item in items:
        for k, v in item.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
    return merged


def _take_pending(event_type: str, group: str) -> dict | None:
    """Atomically take what is pending for (group, type): any process may flush it, once."""
    key = _PENDING.format(group=group, type=event_type)
    pipe = get_redis().pipeline(transaction=True)
    pipe.lrange(key, 0, -1)
    pipe.delete(key)
    raw, _ = pipe.execute()
    if not raw:
        return None
    return _merge(CONFLATED[event_type], [json.loads(r) for r in raw])


async def _trailing_flush(event_type: str, group: str) -> None:
    """At the end of a window, push what arrived during it and open the next window."""
    await asyncio.sleep(CONFLATE_WINDOW_MS / 1000)
    data = _take_pending(event_type, group)
    if data is None:
        return
    get_redis().set(_WINDOW.format(group=group, type=event_type), 1, px=CONFLATE_WINDOW_MS)
    message = {"type": event_type, "seq": next_sequence(group), "group": group, "data": data}
    try:
        await get_channel_layer().group_send(group, message)
    except Exception:
        log.exception("conflated push failed", extra={"event_type": event_type, "group": group})
    _publisher.loop().create_task(_trailing_flush(event_type, group))


def send_conflated(event_type: str, payload: Mapping[str, Any], groups: Iterable[str]) -> None:
    try:
        _send_conflated(event_type, payload, groups)
    except Exception:  # Redis away: the change is committed; browsers catch up on reconnect
        log.exception("conflated push failed", extra={"event_type": event_type})


def _send_conflated(event_type: str, payload: Mapping[str, Any], groups: Iterable[str]) -> None:
    r = get_redis()
    data = json.dumps(jsonable(payload))
    for group in groups:
        key = _PENDING.format(group=group, type=event_type)
        pipe = r.pipeline(transaction=False)
        pipe.rpush(key, data)
        pipe.ltrim(key, -APPEND_CAP * 4, -1)
        pipe.expire(key, 60)
        pipe.execute()
        if r.set(_WINDOW.format(group=group, type=event_type), 1, nx=True, px=CONFLATE_WINDOW_MS):
            # The window was closed: push now, and watch the window we just opened.
            pending = _take_pending(event_type, group)
            if pending is not None:
                message = {"type": event_type, "seq": next_sequence(group), "group": group, "data": pending}
                try:
                    _publisher.run(get_channel_layer().group_send(group, message))
                except Exception:
                    log.exception("conflated push failed", extra={"event_type": event_type, "group": group})
            _publisher.loop().call_soon_threadsafe(
                lambda g=group: _publisher.loop().create_task(_trailing_flush(event_type, g))
            )


class _Push(NamedTuple):
    """A ``send_now`` handed to the push thread."""

    event_type: str
    payload: Mapping[str, Any]
    groups: tuple[str, ...]


class _Background:
    """Pushes handed to one thread of their own, in the order committed (``push_in_background``). What queued while
    the thread was busy goes out together: the plain pushes among it as one ``send_batch`` (per run between other
    work, so the order holds), rather than a sequence round trip and a publisher trip each."""

    BATCH = 500

    def __init__(self, *, start: bool = True):
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pid = os.getpid()
        if start:
            threading.Thread(target=self._drain, name="desk-push", daemon=True).start()

    def _drain(self) -> None:
        while True:
            self._run([self.queue.get(), *self._waiting()])

    def _waiting(self) -> list:
        items = []
        while len(items) < self.BATCH:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def drain_once(self) -> None:
        """Run what is queued now (a thread not started: tests)."""
        self._run(self._waiting())

    def _run(self, items: list) -> None:
        pushes: list[_Push] = []
        for item in [*items, None]:
            if isinstance(item, _Push):
                pushes.append(item)
                continue
            if pushes:
                self._call(send_batch, pushes)
                pushes = []
            if item is not None:
                self._call(item)

    @staticmethod
    def _call(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # pushes are best-effort; the change they announce is committed
            log.exception("background push failed")


_background: _Background | None = None
_conflating: _Background | None = None


def _conflated_pusher() -> _Background:
    """The thread that pushes this process's conflated events: their Redis round trips (queue the
    item, open the window, flush) need not hold up the request or task that caused them; their
    order across types does not matter and within one type the window merges them anyway."""
    global _conflating
    pusher = _conflating
    if pusher is None or pusher._pid != os.getpid():
        pusher = _conflating = _Background()
    return pusher


def push_in_background() -> None:
    """From now on this process pushes from a thread of its own, in commit order, so a commit does not wait
    for Redis: for a process whose one thread applies changes back to back (the FIX gateway)."""
    global _background
    if _background is None or _background._pid != os.getpid():
        _background = _Background()


def event_publish(*, event_type: str, payload: Mapping[str, Any], groups: Iterable[str]) -> None:
    """Tell the browsers in ``groups`` about ``event_type`` once the current transaction commits.

    ``price.tick`` and ``signal.received`` are conflated (see ``CONFLATED``) and pushed from a
    thread of their own; a conflated ``signal.received`` carries ``{"items": [...]}``.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    groups = tuple(groups)
    if event_type in CONFLATED:
        transaction.on_commit(lambda: _conflated_pusher().queue.put(lambda: send_conflated(event_type, payload, groups)))
        return
    background = _background
    if background is not None:
        transaction.on_commit(lambda: background.queue.put(_Push(event_type, payload, groups)))
    else:
        transaction.on_commit(lambda: send_now(event_type, payload, groups))


def send_many(event_type: str, payloads: list[Mapping[str, Any]], group: str) -> None:
    """Push ``payloads`` (in order) to one group now: their sequence numbers taken in one ``INCRBY``, the sends made
    in one trip to the publisher loop. Use ``event_publish_many`` unless you are outside any transaction by design."""
    if not payloads:
        return
    layer = get_channel_layer()
    n = len(payloads)
    try:
        first = int(get_redis().incrby(SEQ_KEY.format(group=group), n)) - n + 1
        messages = [{"type": event_type, "seq": first + i, "group": group, "data": jsonable(p)} for i, p in enumerate(payloads)]

        async def _send() -> None:
            for m in messages:
                await layer.group_send(group, m)

        _publisher.run(_send(), timeout=max(5.0, 0.05 * n))
        metrics.events_pushed.labels(event_type).inc(n)
    except Exception:  # a push must never break the business transaction that caused it
        log.exception("event push failed", extra={"event_type": event_type, "group": group, "count": n})


def send_batch(pushes: list[_Push]) -> None:
    """Push these now, in order: each group's sequence numbers taken by one ``INCRBY`` (all groups' in one pipeline,
    one round trip), the sends made in one trip to the publisher loop. A send that fails is logged; the others go."""
    per_group: dict[str, list[tuple[str, Any]]] = {}
    for push in pushes:
        data = jsonable(push.payload)
        for group in push.groups:
            per_group.setdefault(group, []).append((push.event_type, data))
    if not per_group:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for group, items in per_group.items():
            pipe.incrby(SEQ_KEY.format(group=group), len(items))
        tops = pipe.execute()
    except Exception:  # Redis away: the changes are committed; browsers catch up on reconnect
        log.exception("event push failed", extra={"count": len(pushes)})
        return
    messages = []
    for (group, items), top in zip(per_group.items(), tops):
        first = int(top) - len(items) + 1
        messages += [(group, {"type": t, "seq": first + i, "group": group, "data": d}) for i, (t, d) in enumerate(items)]
    layer = get_channel_layer()

    async def _send() -> list[str]:
        sent = []
        for group, message in messages:
            try:
                await layer.group_send(group, message)
                sent.append(message["type"])
            except Exception:  # a push must never break the business transaction that caused it
                log.exception("event push failed", extra={"event_type": message["type"], "group": group})
        return sent

    try:
        sent = _publisher.run(_send(), timeout=max(5.0, 0.05 * len(messages)))
    except Exception:
        log.exception("event push failed", extra={"count": len(messages)})
        return
    for event_type in sent:
        metrics.events_pushed.labels(event_type).inc()


def event_publish_many(*, event_type: str, payloads: Iterable[Mapping[str, Any]], group: str) -> None:
    """``event_publish`` of many events of one type to one group (a bulk change: the kill switch's cancels of a
    book), pushed after commit as one batch, in order, each with its own sequence number. Not for conflated types."""
    if event_type not in EVENT_TYPES or event_type in CONFLATED:
        raise ValueError(f"cannot batch event type {event_type!r}")
    payloads = list(payloads)
    if not payloads:
        return
    background = _background
    if background is not None:
        transaction.on_commit(lambda: background.queue.put(lambda: send_many(event_type, payloads, group)))
    else:
        transaction.on_commit(lambda: send_many(event_type, payloads, group))
