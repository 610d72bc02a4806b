"""A Celery worker's tasks and the process's database connection pool (config/celery.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:  # a query: takes a connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_prefork_worker_when_a_task_ends_then_its_connection_goes_back_to_the_pool_and_the_next_task_takes_it_back():
    """Celery's Django fix-up closed the process's whole pool after every task of a prefork worker (against a pool
    inherited across a fork, which config/dbpool.py's fork guard already prevents): every task then opened a new
    PostgreSQL session (a connect, its authentication and a server process, per order)."""
    from celery import signals
    from celery.fixups.django import DjangoFixup

    from config.celery import app

    assert connection.pool is not None  # the settings' pool (tests/test_dbpool.py)
    (fixup,) = [f for f in app._fixups if isinstance(f, DjangoFixup)]
    fixup.worker_fixup = None
    signals.import_modules.send(sender=app)  # a worker starting, as ``celery worker`` does before ``worker_init``
    worker_fixup = fixup.worker_fixup
    worker_fixup.worker = SimpleNamespace(pool_cls="prefork")  # as in the desk's workers (what the fix-up checks)
    task = SimpleNamespace(request=SimpleNamespace(is_eager=False))
    _backend_pid()
    pool = connection.pool
    opened = pool.get_stats().get("connections_num", 0)
    for _ in range(3):
        worker_fixup.on_task_postrun(sender=task)  # a task ends
        assert connection.connection is None  # handed back: a task never keeps one past its end
        worker_fixup.on_task_prerun(sender=task)  # the next starts
        _backend_pid()
    assert connection.pool is pool and not pool.closed  # the same pool, open
    assert pool.get_stats().get("connections_num", 0) == opened  # and no new server session: one it had
    connection.close()
