"""A queue-depth alert raised by a stopped worker, on the real stack: the ASGI server and a
prefork Celery worker as subprocesses, Redis as the broker, the test database.

The worker and the web process report themselves; the worker is stopped; tasks pile up in
``default``; the Monitoring page's data endpoint, finding no recent evaluation (the worker
that would run it is gone), evaluates the queue rules itself; the alerts show there and on
``/api/v1/alerts/``. The worker comes back, drains the queue, and the next evaluation
resolves them."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

N_TASKS = 20


def wait_for(fn, *, timeout: float, message: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")


def _rule_set(admin, kind, **changes):
    from ops_app.alert_rules.manage import alert_rule_save
    from ops_app.models import AlertRule

    rule = AlertRule.objects.get(kind=kind)
    data = {"name": rule.name, "kind": rule.kind, "severity": rule.severity, "threshold": str(rule.threshold),
            "window_minutes": str(rule.window_minutes), "params": "{}", "webhook_url": "", "note": "", "enabled": "on"}
    saved, errors = alert_rule_save(actor=admin, rule_id=rule.pk, data={**data, **changes})
    assert errors == {}
    return saved


def _processes(role):
    from ops_app.resources import processes_list

    return [p for p in processes_list() if p["role"] == role]


def _depth(queue="default"):
    from ops_app.resources import queue_stats

    return queue_stats([queue])[queue]["depth"]


def test_queue_alerts_when_worker_stopped_then_raised_visible_and_resolved_when_it_drains(
    desk_admin, trader, client, monkeypatch
):
    from django.conf import settings

    from desk.tasks import enqueue
    from ops_app import views
    from ops_app.alert_rules.rules import alert_rules_evaluate
    from ops_app.models import AlertRule
    from risk_app.models import Alert
    from tests.faults.harness import Api, token_for
    from tests.live_stack import LiveStack, Worker

    K = AlertRule.Kind
    _rule_set(desk_admin, K.QUEUE_DEPTH, threshold="10")  # over 10 waiting, at once (no for_s)
    _rule_set(desk_admin, K.TASK_AGE, threshold="3")
    monkeypatch.setattr(views, "_last_probe", 0.0)  # this process has not probed yet
    queues = ",".join(settings.DESK_QUEUES)

    with LiveStack(beat=False, worker=False, extra_env={"DESK_PROCESS_HEARTBEAT_SECONDS": "1"}) as stack:
        api = Api(stack.url, token_for(trader))
        worker = Worker(stack.env, name="queue-alert", queues=queues).start()
        try:
            # Arrange: every process reports itself; the worker has emptied the queue.
            [w] = wait_for(lambda: _processes("worker"), timeout=60, message="the worker's own report")
            assert w["name"] == worker.name.replace("%h", w["host"]) and w["children"] >= 2 and w["rss_bytes"] > 0
            [web] = wait_for(lambda: _processes("web"), timeout=20, message="the web process's own report")
            assert web["pid"] != w["pid"]
            wait_for(lambda: _depth() == 0, timeout=60, message="the worker to drain default")

            # Act: the worker stops (a clean stop: its report goes with it), tasks keep coming.
            worker.stop()
            assert _processes("worker") == []
            left = _depth()  # messages with an eta the worker held go back to the queue as it stops
            t_stop = time.time()
            for _ in range(N_TASKS):
                enqueue("ops_app.tasks.heartbeat_publish")
            assert _depth() == left + N_TASKS
            time.sleep(max(0.0, t_stop + 3.5 - time.time()))  # the oldest is now past the 3 s threshold

            # The page's data endpoint finds no evaluation (no worker runs it) and evaluates itself.
            client.force_login(trader)
            data = client.get("/monitoring/data/").json()
        finally:
            worker.stop()

        # Keyed by kind, about `default` (a message another test left on another queue may be old too).
        firing = {a["kind"]: a for a in data["active"] if "Queue 'default'" in a["message"]}
        assert f"Queue 'default' has {left + N_TASKS} messages waiting" in firing[K.QUEUE_DEPTH]["message"]
        assert "Queue 'default': oldest task waiting" in firing[K.TASK_AGE]["message"]
        assert data["resources"]["queues"]["default"]["depth"] == left + N_TASKS
        assert data["resources"]["queues"]["default"]["oldest_age_s"] >= 3
        status, alerts = api.call("GET", "/api/v1/alerts/?status=active")
        assert status == 200
        assert {K.QUEUE_DEPTH, K.TASK_AGE} <= {a["kind"] for a in alerts}

        # The worker comes back and drains the queue; the next evaluation resolves both alerts.
        back = Worker(stack.env, name="queue-alert-back", queues=queues).start()
        try:
            wait_for(lambda: _depth() == 0, timeout=60, message="the restarted worker to drain default")
            alert_rules_evaluate(kinds=[K.QUEUE_DEPTH, K.TASK_AGE])
            assert not Alert.objects.filter(kind__in=[K.QUEUE_DEPTH, K.TASK_AGE], status="active").exists()
            status, alerts = api.call("GET", "/api/v1/alerts/?status=active")
            assert status == 200 and not {K.QUEUE_DEPTH, K.TASK_AGE} & {a["kind"] for a in alerts}
            resolved = client.get("/monitoring/data/").json()["history"]
            assert {K.QUEUE_DEPTH, K.TASK_AGE} <= {a["kind"] for a in resolved}
        finally:
            back.stop()
