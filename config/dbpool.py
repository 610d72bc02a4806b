"""PostgreSQL connection pools (Django's, over psycopg_pool): one per process, never inherited across a fork,
and a budget checked before the desk starts.

- Settings (``pool_options``): each process opens at most ``DESK_DB_POOL_MAX_SIZE`` connections, none until its
  first query (``min_size`` 0 by default), and waits at most ``DESK_DB_POOL_TIMEOUT`` seconds for a free one.
- Forks (``install_fork_guard``): a Celery prefork worker forks its children from a main process that may have
  queried the database (its readiness report, a replaced child forked later). A pool's connections are sockets;
  a child that inherits them would talk over the parent's sessions, and closing them in the child would end the
  parent's. So before every fork the parent returns its connections and closes its pools (it opens a fresh one on
  its next query), and a child drops whatever it still holds without touching the sockets: each process's pool
  is created after the fork, in that process.
- Budget (``budget_error``): processes x pool size must stay below the server's ``max_connections`` less its
  reserved slots; ``make run`` checks it before starting anything (``config.launcher``) and says what to change.

No Django import at module level: the launcher uses the budget without setting Django up.
"""

from __future__ import annotations

import os

DEFAULT_POOL_MAX_SIZE = 4
DEFAULT_POOL_MIN_SIZE = 0
# Short: a request waits this long for a connection when the database is unreachable, then gets its 503
# (config/resilience.py); a process's few threads rarely wait for each other's connections.
DEFAULT_POOL_TIMEOUT = 3.0


def pool_options(env) -> dict | None:
    """Django's ``OPTIONS["pool"]`` from the environment (django-environ ``env``); None when pooling is off."""
    if not env.bool("DESK_DB_POOL", default=True):
        return None
    return {
        "min_size": env.int("DESK_DB_POOL_MIN_SIZE", default=DEFAULT_POOL_MIN_SIZE),
        "max_size": env.int("DESK_DB_POOL_MAX_SIZE", default=DEFAULT_POOL_MAX_SIZE),
        "timeout": env.float("DESK_DB_POOL_TIMEOUT", default=DEFAULT_POOL_TIMEOUT),
        # Idle connections above min_size go back to the server after this long.
        "max_idle": env.float("DESK_DB_POOL_MAX_IDLE", default=300.0),
    }


# --- Processes and their connections ------------------------------------------------------------------------


def desk_processes(environ: dict) -> dict[str, int]:
    """The processes ``make run`` starts that talk to the database, by kind, from the launcher's environment.

    A Celery worker is its main process and its pool children (``DESK_WORKER_CONCURRENCY``, and
    ``DESK_CONTROL_CONCURRENCY`` for the control queue's worker), each with a pool of its own.
    """
    web = int(environ.get("DESK_WEB_WORKERS") or max(2, os.cpu_count() or 1))
    children = int(environ.get("DESK_WORKER_CONCURRENCY") or 2)
    control = int(environ.get("DESK_CONTROL_CONCURRENCY") or 2)
    return {"web": web, "worker": 1 + children, "control": 1 + control, "beat": 1, "fixgateway": 1, "fixvenue": 1}


def budget_error(*, processes: dict[str, int], pool_max: int, max_connections: int, reserved: int,
                 in_use: int = 0) -> str | None:
    """Why the pools cannot fit on the server (a sentence that says what to change), or None when they do."""
    total = sum(processes.values())
    wanted = total * pool_max
    room = max_connections - reserved - in_use
    if wanted <= room:
        return None
    parts = ", ".join(f"{n} {kind}" for kind, n in processes.items())
    busy = f", {in_use} already in use by other clients" if in_use else ""
    return (
        f"the database connection pools need up to {wanted} connections ({total} processes: {parts}; "
        f"DESK_DB_POOL_MAX_SIZE={pool_max} each) but PostgreSQL allows {room} "
        f"(max_connections {max_connections}, {reserved} reserved for superusers{busy}). "
        f"Lower DESK_DB_POOL_MAX_SIZE, DESK_WEB_WORKERS, DESK_WORKER_CONCURRENCY or DESK_CONTROL_CONCURRENCY, or raise the server's max_connections."
    )


def server_limits(database_url: str) -> tuple[int, int, int]:
    """(max_connections, superuser_reserved_connections, connections in use now) of the server at ``database_url``."""
    import psycopg

    url = "postgresql" + database_url[len("postgres"):] if database_url.startswith("postgres://") else database_url
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int, "
            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') - 1"
        ).fetchone()
    return int(row[0]), int(row[1]), max(0, int(row[2]))


# --- Forks --------------------------------------------------------------------------------------------------

_kept: list = []  # connections a child dropped: kept referenced, never finalised, so no close reaches the parent's session
_installed = False


def _pools() -> dict:
    try:
        from django.db.backends.postgresql.base import DatabaseWrapper
    except Exception:  # noqa: BLE001 - no PostgreSQL backend in this process: nothing pooled
        return {}
    return DatabaseWrapper._connection_pools


def close_pools_before_fork() -> None:
    """In the parent, before a fork: return this thread's connections, close every pool (the child starts with none)."""
    pools = _pools()
    if not pools:
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection is dropped all the same
                pass
    for alias in list(pools):
        pool = pools.pop(alias, None)
        if pool is not None:
            try:
                pool.close(timeout=2.0)
            except Exception:  # noqa: BLE001
                pass


def drop_inherited_pools() -> None:
    """In a child: forget any pool and connection the parent had, without a byte on their sockets."""
    pools = _pools()
    for alias in list(pools):
        _kept.append(pools.pop(alias))
    try:
        from django.db import connections
    except Exception:  # noqa: BLE001
        return
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _kept.append(conn.connection)
            conn.connection = None


def install_fork_guard() -> None:
    """Once per process: close pools before any ``os.fork`` and drop leftovers in the child (subprocesses that
    exec a new program are not forks of this interpreter and are untouched)."""
    global _installed
    if _installed or not hasattr(os, "register_at_fork"):
        return
    _installed = True
    os.register_at_fork(before=close_pools_before_fork, after_in_child=drop_inherited_pools)
