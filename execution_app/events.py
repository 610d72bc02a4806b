"""The event publisher: the one way any app tells browsers that something happened.

``event_publish`` sends *after commit* (STYLE.md rule 7): if the surrounding
transaction rolls back, nothing is pushed. Each group carries its own sequence
number (Redis ``INCR``) so a page can see a gap and re-fetch the panel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

from config.redis import get_redis

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
        message = {"type": event_type, "seq": next_sequence(group), "group": group, "data": data}
        try:
            _publisher.run(layer.group_send(group, message))
        except Exception:  # a push must never break the business transaction that caused it
            log.exception("event push failed", extra={"event_type": event_type, "group": group})


def event_publish(*, event_type: str, payload: Mapping[str, Any], groups: Iterable[str]) -> None:
    """Tell the browsers in ``groups`` about ``event_type`` once the current transaction commits."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    groups = tuple(groups)
    transaction.on_commit(lambda: send_now(event_type, payload, groups))
