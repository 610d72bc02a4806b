"""One Redis client per process (a connection pool, not shared state)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    import redis


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # Imported by the first process that talks to Redis: a command-line backtest never does.
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)
