"""The resource collectors (processes, queues, database, Redis, disk), their rules, and /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ops_app import resources
from ops_app.alert_rules.rules import Probe, alert_rules_evaluate
from ops_app.models import AlertRule
from risk_app.models import Alert

pytestmark = pytest.mark.django_db
K = AlertRule.Kind
Q = "mon-test-res"


def active(kind):
    return list(Alert.objects.filter(kind=kind, status=Alert.Status.ACTIVE))


@pytest.fixture
def test_queue(settings):
    from desk.redis import get_redis

    settings.DESK_QUEUES = (Q,)
    get_redis().delete(Q)
    yield Q
    get_redis().delete(Q)


def _publish(n: int = 1, **options) -> None:
    from desk.tasks import enqueue

    for _ in range(n):
        enqueue("ops_app.tasks.heartbeat_publish", queue=Q, **options)


# --- Processes -------------------------------------------------------------------------------


def test_process_sampler_when_this_process_burns_cpu_then_cpu_and_memory_measured():
    sampler = resources.ProcessSampler()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.3:
        pass
    s = sampler.sample()
    assert s["pid"] == os.getpid() and s["children"] == 0
    assert s["cpu_pct"] > 10 and s["rss_bytes"] > 20 * 2**20


def test_process_sampler_when_children_then_their_memory_summed_in():
    alone = resources.ProcessSampler().sample()["rss_bytes"]
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(64 * 2**20); time.sleep(30)"])
    try:
        sampler = resources.ProcessSampler(children=True)
        deadline = time.monotonic() + 10
        s = sampler.sample()
        while s["rss_bytes"] < alone + 60 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.1)
            s = sampler.sample()
        assert s["children"] == 1 and s["rss_bytes"] >= alone + 60 * 2**20
    finally:
        child.kill()
        child.wait()


def test_heartbeat_when_written_then_listed_with_its_age_and_forgotten_after_silence():
    t0 = time.time()
    resources.heartbeat_write(role="worker", name="desk@a", sample={"pid": 42, "cpu_pct": 12.5, "rss_bytes": 10, "children": 2},
                              started_at=t0 - 100, now=t0)
    [p] = resources.processes_list(now=t0 + 5)
    assert (p["role"], p["name"], p["pid"], p["cpu_pct"], p["children"], p["age_s"]) == ("worker", "desk@a", 42, 12.5, 2, 5.0)
    assert resources.processes_list(now=t0 + 700) == []
    assert resources.processes_list(now=t0) == []  # deleted, not hidden


def test_reporter_when_started_then_reports_every_interval_and_clean_stop_removes_it():
    reporter = resources.ProcessReporter(role="web", name="test-reporter", interval=0.05)
    reporter.start()
    try:
        deadline = time.monotonic() + 5
        seen: list[float] = []
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            seen += [p["ts"] for p in resources.processes_list() if p["name"] == "test-reporter"]
            time.sleep(0.05)
        assert len(set(seen)) >= 3  # written again and again, not once
    finally:
        reporter.stop()
        reporter.join(2)
    assert [p for p in resources.processes_list() if p["name"] == "test-reporter"] == []


def test_reporter_when_its_process_exits_normally_then_its_report_is_removed():
    from django.conf import settings

    code = ("import os, time, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()\n"
            "from ops_app.resources import reporter_start, processes_list\n"
            "reporter_start(role='beat', name='exit-test')\n"
            "deadline = time.monotonic() + 10\n"
            "while not any(p['name'] == 'exit-test' for p in processes_list()) and time.monotonic() < deadline: time.sleep(0.05)\n"
            "raise SystemExit(0 if any(p['name'] == 'exit-test' for p in processes_list()) else 3)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env={**os.environ, "REDIS_URL": settings.REDIS_URL},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]  # it did report while it ran
    assert [p for p in resources.processes_list() if p["name"] == "exit-test"] == []


def test_process_silent_when_a_process_stops_reporting_then_raised_and_resolved_when_it_reports_again():
    t0 = time.time()
    sample = {"pid": 7, "cpu_pct": 0.0, "rss_bytes": 1, "children": 0}
    resources.heartbeat_write(role="worker", name="desk@b", sample=sample, started_at=t0, now=t0)
    alert_rules_evaluate(kinds=[K.PROCESS_SILENT], now=t0 + 30)
    assert active(K.PROCESS_SILENT) == []
    alert_rules_evaluate(kinds=[K.PROCESS_SILENT], now=t0 + 61)
    [a] = active(K.PROCESS_SILENT)
    assert "worker desk@b (pid 7) has not reported" in a.message and a.severity == "critical"
    resources.heartbeat_write(role="worker", name="desk@b", sample=sample, started_at=t0, now=t0 + 62)
    alert_rules_evaluate(kinds=[K.PROCESS_SILENT], now=t0 + 63)
    assert active(K.PROCESS_SILENT) == []


# --- Queues ---------------------------------------------------------------------------------


def test_queue_stats_when_tasks_wait_then_depth_and_age_of_the_oldest_from_the_publish_header(test_queue):
    _publish(1)
    time.sleep(0.3)
    _publish(2)
    stats = resources.queue_stats(now=time.time() + 40)
    assert stats[Q]["depth"] == 3
    assert 40.3 <= stats[Q]["oldest_age_s"] < 45  # the first one's, not the newest's
    assert resources.queue_stats()[Q]["oldest_age_s"] < 5


def test_queue_stats_when_empty_or_eta_in_future_then_no_age(test_queue):
    import json

    from desk.redis import get_redis

    assert resources.queue_stats()[Q] == {"depth": 0, "oldest_age_s": None}
    # A message with a future eta (as the broker holds it when no worker took it) waits from its eta.
    get_redis().lpush(Q, json.dumps({"headers": {"desk_enqueued_at": time.time(), "eta": "2999-01-01T00:00:00+00:00"}}))
    assert resources.queue_stats()[Q] == {"depth": 1, "oldest_age_s": 0.0}
    get_redis().lpush(Q, json.dumps({"headers": {}}))  # from a process without the publish hook
    assert resources.queue_stats()[Q]["depth"] == 2


def test_task_age_when_oldest_waits_over_threshold_then_raised_and_resolved_when_drained(test_queue):
    from desk.redis import get_redis

    _publish(3)
    now = time.time()
    alert_rules_evaluate(kinds=[K.TASK_AGE], now=now + 10)
    assert active(K.TASK_AGE) == []
    alert_rules_evaluate(kinds=[K.TASK_AGE], now=now + 31)
    [a] = active(K.TASK_AGE)
    assert a.key.endswith(f":{Q}") and f"Queue '{Q}': oldest task waiting 31 s (3 waiting" in a.message
    get_redis().delete(Q)
    alert_rules_evaluate(kinds=[K.TASK_AGE], now=now + 40)
    assert active(K.TASK_AGE) == []


def test_queue_depth_when_for_s_then_raised_only_after_holding_that_long(test_queue):
    from desk.redis import get_redis

    rule = AlertRule.objects.get(kind=K.QUEUE_DEPTH)
    assert rule.params == {"for_s": 60}  # the default: over 100 for a minute
    get_redis().rpush(Q, *["m"] * 150)
    t0 = time.time()
    alert_rules_evaluate(kinds=[K.QUEUE_DEPTH], now=t0)
    alert_rules_evaluate(kinds=[K.QUEUE_DEPTH], now=t0 + 59)
    assert active(K.QUEUE_DEPTH) == []
    alert_rules_evaluate(kinds=[K.QUEUE_DEPTH], now=t0 + 61)
    [a] = active(K.QUEUE_DEPTH)
    assert a.value == 150 and "for over 60 s" in a.message
    get_redis().delete(Q)
    alert_rules_evaluate(kinds=[K.QUEUE_DEPTH], now=t0 + 62)
    assert active(K.QUEUE_DEPTH) == []
    get_redis().rpush(Q, *["m"] * 150)  # back over: the minute starts again
    alert_rules_evaluate(kinds=[K.QUEUE_DEPTH], now=t0 + 63)
    assert active(K.QUEUE_DEPTH) == []


# --- Database, Redis, disk --------------------------------------------------------------------


def test_db_connections_when_postgresql_then_this_databases_connections_against_max():
    from django.db import connection

    d = resources.db_connections()
    if connection.vendor == "sqlite":
        assert d is None
        return
    assert d["total"] >= 1 and d["max"] >= d["total"] and d["by_state"].get("active", 0) >= 1
    assert d["pct"] == round(100.0 * d["total"] / d["max"], 1)


class FakeRedis:
    def __init__(self, info):
        self._info = info

    def info(self, section):
        assert section == "memory"
        return self._info


def test_redis_memory_when_maxmemory_set_then_share_of_it_else_of_the_machine(monkeypatch):
    import desk.redis

    monkeypatch.setattr(desk.redis, "get_redis", lambda: FakeRedis({"used_memory": 850, "maxmemory": 1000, "total_system_memory": 10**9}))
    assert resources.redis_memory() == {"used": 850, "max": 1000, "max_source": "maxmemory", "pct": 85.0}
    monkeypatch.setattr(desk.redis, "get_redis", lambda: FakeRedis({"used_memory": 850, "maxmemory": 0, "total_system_memory": 8500}))
    assert resources.redis_memory()["max_source"] == "system memory" and resources.redis_memory()["pct"] == 10.0
    monkeypatch.undo()
    assert resources.redis_memory()["used"] > 0  # the test Redis itself


def test_redis_memory_and_disk_rules_when_over_then_raised(monkeypatch):
    monkeypatch.setattr(resources, "redis_memory", lambda: {"used": 900 * 2**20, "max": 1000 * 2**20, "max_source": "maxmemory", "pct": 90.0})
    monkeypatch.setattr(resources, "disk_usage", lambda: {"path": "/var/desk", "free": 3 * 2**30, "total": 100 * 2**30, "free_pct": 3.0})
    monkeypatch.setattr(resources, "db_connections", lambda: {"total": 90, "max": 100, "pct": 90.0, "by_state": {}, "vendor": "postgresql"})
    alert_rules_evaluate(kinds=[K.REDIS_MEMORY, K.DISK_FREE, K.DB_CONNECTIONS])
    [r] = active(K.REDIS_MEMORY)
    [d] = active(K.DISK_FREE)
    [c] = active(K.DB_CONNECTIONS)
    assert "90% of its maxmemory" in r.message and r.value == 90.0
    assert d.message.startswith("Disk of /var/desk: 3.0% free") and d.severity == "critical"
    assert "90 of max 100" in c.message
    monkeypatch.setattr(resources, "disk_usage", lambda: {"path": "/var/desk", "free": 50, "total": 100, "free_pct": 50.0})
    alert_rules_evaluate(kinds=[K.DISK_FREE])
    assert active(K.DISK_FREE) == []


def test_disk_usage_when_read_then_the_data_directory_filesystem():
    from django.conf import settings

    d = resources.disk_usage()
    assert d["path"] == str(settings.VAR_DIR) and 0 < d["free"] <= d["total"] and 0 < d["free_pct"] <= 100


def test_snapshot_when_redis_down_then_its_parts_say_so_and_the_rest_still_there(monkeypatch):
    import desk.redis

    def down():
        raise ConnectionError("refused")

    monkeypatch.setattr(desk.redis, "get_redis", down)
    s = resources.resources_snapshot()
    assert set(s["errors"]) >= {"processes", "redis"} and s["disk"]["free"] > 0


# --- /metrics and the page --------------------------------------------------------------------


def test_metrics_when_scraped_then_each_process_queue_age_redis_and_disk_exposed(client, test_queue):
    t0 = time.time()
    resources.heartbeat_write(role="web", name="host:123", sample={"pid": 123, "cpu_pct": 3.5, "rss_bytes": 4096, "children": 0},
                              started_at=t0, now=t0)
    _publish(2)
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'desk_process_cpu_percent{process="host:123",role="web"} 3.5' in body
    assert 'desk_process_resident_memory_bytes{process="host:123",role="web"} 4096.0' in body
    assert f'desk_celery_queue_oldest_task_age_seconds{{queue="{Q}"}}' in body
    assert "desk_redis_memory_used_bytes " in body and "desk_disk_free_bytes " in body
    from django.db import connection

    assert ("desk_db_connections{" in body) == (connection.vendor == "postgresql")
    assert "django_http_requests" in body  # django-prometheus's own are still there


def test_monitoring_page_when_processes_report_then_resources_and_backups_panels_shown(client, trader, test_queue):
    t0 = time.time()
    resources.heartbeat_write(role="worker", name="desk@host", sample={"pid": 99, "cpu_pct": 41.0, "rss_bytes": 150 * 2**20, "children": 2},
                              started_at=t0, now=t0)
    _publish(1)
    client.force_login(trader)
    body = client.get("/monitoring/").content.decode()
    assert 'id="resources-panel"' in body and 'id="backups-panel"' in body
    assert "desk@host" in body and "41.0" in body and "150.0" in body and "MB" in body and Q in body
    data = client.get("/monitoring/data/").json()
    [p] = data["resources"]["processes"]
    assert (p["role"], p["name"], p["cpu_pct"]) == ("worker", "desk@host", 41.0)
    assert data["resources"]["queues"][Q]["depth"] == 1 and data["resources"]["disk"]["free"] > 0
    assert data["backups"]["last"] is None and data["backups"]["interval_s"] == 3600


def test_probe_when_shared_then_each_source_read_once(monkeypatch):
    calls = []
    monkeypatch.setattr(resources, "disk_usage", lambda: calls.append(1) or {"path": "/", "free": 1, "total": 2, "free_pct": 50.0})
    probe = Probe()
    probe.disk()
    probe.disk()
    assert calls == [1]
