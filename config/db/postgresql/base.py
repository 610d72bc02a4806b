"""Django's PostgreSQL backend, its pool failing fast while the server is unreachable.

With a pool, a request that needs a connection waits for the pool to make one (``DESK_DB_POOL_TIMEOUT``); while the
server is down every database touch of a request (the session, the user, an error page's rendering) would wait that
long again, where a plain connect fails at once. So after a failed wait while the pool holds no connection, this
process's requests fail at once for ``FAIL_FAST_SECONDS`` (the pool keeps reconnecting in the background, and the first
request after that waits again). A wait that timed out while every connection was in use (a busy process, not a server
that is down) fails that request only.
"""

from __future__ import annotations

import threading
import time

from django.db import OperationalError
from django.db.backends.postgresql import base

FAIL_FAST_SECONDS = 2.0

_lock = threading.Lock()
_unreachable_until = 0.0


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        global _unreachable_until
        if self.pool is None:
            return super().get_new_connection(conn_params)
        if time.monotonic() < _unreachable_until:
            raise OperationalError("the database is unreachable (no connection could be made in the last seconds)")
        try:
            return super().get_new_connection(conn_params)
        except Exception as exc:
            from psycopg_pool import PoolTimeout

            if (isinstance(exc, PoolTimeout) or isinstance(exc.__cause__, PoolTimeout)) and _down(self.pool):
                with _lock:
                    _unreachable_until = time.monotonic() + FAIL_FAST_SECONDS
            raise


_errors_seen: dict[int, int] = {}


def _down(pool) -> bool:
    """Whether a wait that timed out means the server cannot be reached: the pool failed to connect since the last
    such wait, or holds no connection at all. Else every connection was in use (a busy process, the server up): that
    is not a reason to fail the next requests at once."""
    try:
        stats = pool.get_stats()
    except Exception:
        return True
    errors = stats.get("connections_errors", 0)
    with _lock:
        failed = errors > _errors_seen.get(id(pool), 0)
        _errors_seen[id(pool)] = errors
    return failed or stats.get("pool_size", 0) == 0
