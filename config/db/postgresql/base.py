"""Django's PostgreSQL backend, its pool failing fast while the server is unreachable.

With a pool, a request that needs a connection waits for the pool to make one (``DESK_DB_POOL_TIMEOUT``); while the
server is down every database touch of a request (the session, the user, an error page's rendering) would wait that
long again, where a plain connect fails at once. So after a failed wait, this process's requests fail at once for
``FAIL_FAST_SECONDS`` (the pool keeps reconnecting in the background, and the first request after that waits again).
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

            if isinstance(exc, PoolTimeout) or isinstance(exc.__cause__, PoolTimeout):
                with _lock:
                    _unreachable_until = time.monotonic() + FAIL_FAST_SECONDS
            raise
