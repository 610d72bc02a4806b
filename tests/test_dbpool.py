"""Database connection pools on PostgreSQL: configured per process, never inherited across a fork, and a budget
that ``make run`` checks against the server before it starts anything."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from config.dbpool import budget_error, desk_processes

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="pools are PostgreSQL's; SQLite as before")


@postgres_only
def test_settings_when_postgresql_then_a_pool_per_process_and_no_persistent_connections(settings):
    db = settings.DATABASES["default"]

    assert db["OPTIONS"]["pool"]["max_size"] >= 1
    assert db["OPTIONS"]["pool"]["min_size"] == 0  # nothing opened before the first query (nor before a fork)
    assert db["CONN_MAX_AGE"] == 0


def test_budget_when_pools_fit_then_no_error():
    processes = desk_processes({"DESK_WEB_WORKERS": "2", "DESK_WORKER_CONCURRENCY": "2"})

    assert processes == {"web": 2, "worker": 3, "control": 3, "beat": 1, "fixgateway": 1, "fixvenue": 1}
    assert budget_error(processes=processes, pool_max=4, max_connections=100, reserved=3) is None


def test_budget_when_processes_times_pool_size_exceed_the_server_then_error_names_what_to_change():
    processes = desk_processes({"DESK_WEB_WORKERS": "8", "DESK_WORKER_CONCURRENCY": "8"})

    error = budget_error(processes=processes, pool_max=10, max_connections=100, reserved=3, in_use=5)

    assert "up to 230 connections" in error and "allows 92" in error
    assert "max_connections 100" in error and "DESK_DB_POOL_MAX_SIZE" in error and "DESK_WEB_WORKERS" in error


@postgres_only
@pytest.mark.django_db
def test_launcher_when_pool_too_large_for_the_real_server_then_refuses_to_start_with_the_reason(capsys):
    from config.launcher import db_budget_error
    from tests.live_stack import database_url

    with connection.cursor() as cur:
        cur.execute("SHOW max_connections")
        max_connections = int(cur.fetchone()[0])
    env = {"DATABASE_URL": database_url(), "DESK_WEB_WORKERS": "2", "DESK_WORKER_CONCURRENCY": "2"}

    too_big = db_budget_error({**env, "DESK_DB_POOL_MAX_SIZE": str(max_connections)})
    fits = db_budget_error({**env, "DESK_DB_POOL_MAX_SIZE": "1"})
    off = db_budget_error({**env, "DESK_DB_POOL_MAX_SIZE": str(max_connections), "DESK_DB_POOL": "false"})

    assert f"max_connections {max_connections}" in too_big
    assert fits is None and off is None


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_fork_when_the_parent_has_pooled_connections_then_the_child_opens_its_own_and_the_parents_survive():
    from django.db.backends.postgresql.base import DatabaseWrapper

    from config.dbpool import install_fork_guard

    install_fork_guard()
    parent_before = _backend_pid()
    assert connection.alias in DatabaseWrapper._connection_pools  # the parent's pool is open

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its own pool, its own server session
        try:
            os.close(read)
            inherited = connection.alias in DatabaseWrapper._connection_pools
            pid = _backend_pid()
            os.write(write, f"{int(inherited)} {pid}".encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    inherited, child_pid = (int(x) for x in os.read(read, 64).decode().split())
    os.close(read)

    assert os.waitstatus_to_exitcode(status) == 0
    assert inherited == 0
    assert child_pid != parent_before
    assert _backend_pid() != child_pid  # the parent's database still answers, on a session of its own


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_pool_when_every_connection_is_busy_then_a_wait_that_times_out_is_not_taken_for_an_unreachable_server():
    """Under load every pooled connection may be in use: a request that waits too long fails, but the server is up -
    the ones after it must wait for a connection too, not fail at once for FAIL_FAST_SECONDS as when it is down."""
    import time

    from psycopg_pool import PoolTimeout

    from config.db.postgresql import base as desk_base

    connection.ensure_connection()
    pool = connection.pool
    held = []
    try:
        while True:
            try:
                held.append(pool.getconn(timeout=0.3))
            except PoolTimeout:
                break
        timeout, pool.timeout = pool.timeout, 0.3
        try:
            with pytest.raises(Exception):
                connection.get_new_connection(connection.get_connection_params())
        finally:
            pool.timeout = timeout
        assert desk_base._unreachable_until < time.monotonic(), "a busy pool was taken for a server that is down"
    finally:
        for c in held:
            pool.putconn(c)
