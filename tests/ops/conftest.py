"""Fixtures for the monitoring tests: the risk book and the signal fixtures, Redis keys cleaned,
and a loopback webhook receiver."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from tests.signals.signal_fixtures import instruments, market_clock, vendor_agent  # noqa: F401
from tests.risk.conftest import _fresh_engine, book, make_limit, stepped_clock  # noqa: F401


@pytest.fixture(autouse=True)
def _clean_monitoring_keys():
    """Series, worker and lock keys of earlier tests must not leak into this one."""
    from desk.redis import get_redis

    def clean():
        r = get_redis()
        keys = list(r.scan_iter("mon:*", count=1000))
        if keys:
            r.delete(*keys)

    clean()
    yield
    clean()


@pytest.fixture(autouse=True)
def _default_rules(request):
    """The migrations' default rules (a transactional test before this one flushes them)."""
    if "db" not in request.fixturenames and "transactional_db" not in request.fixturenames \
            and not request.node.get_closest_marker("django_db"):
        return
    import importlib

    from ops_app.models import AlertRule

    request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
    first = importlib.import_module("risk_app.migrations.0003_monitoring_rules_rollout")
    resources = importlib.import_module("ops_app.migrations.0002_resource_rules_and_backups")
    for name, kind, severity, threshold, window, params in first.DEFAULT_RULES + resources.DEFAULT_RULES:
        AlertRule.objects.get_or_create(name=name, defaults={
            "kind": kind, "severity": severity, "threshold": threshold, "window_minutes": window, "params": params})
    resources._queue_depth_params(AlertRule, {}, {"for_s": resources.QUEUE_DEPTH_FOR_S})


class Receiver:
    """An HTTP server on a free loopback port that records every POST and answers from a script."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)  # answered in order, then 200
        self.posts: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.posts.append({"key": self.headers["Idempotency-Key"], "body": body, "status": status})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        r = Receiver(statuses)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
