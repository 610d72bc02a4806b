"""The desk's alert rules: raised once, updated while they last, resolved when they clear."""

from __future__ import annotations

import json
import time

import pytest

from ops_app.alert_rules import series
from ops_app.alert_rules.rules import alert_rules_evaluate
from risk_app.models import Alert
from ops_app.models import AlertRule

pytestmark = pytest.mark.django_db
K = AlertRule.Kind


def rule(kind):
    return AlertRule.objects.get(kind=kind)  # the defaults the migration creates


def active(kind):
    return list(Alert.objects.filter(kind=kind, status=Alert.Status.ACTIVE))


def test_kill_switch_when_halted_then_one_alert_and_resolved_when_active_again(risk_officer, risk_officer2):
    from risk_app.services import trading_state_rearm_confirm, trading_state_set

    trading_state_set(scope="desk", state="REDUCING", actor=risk_officer, reason="drill")
    alert_rules_evaluate(kinds=[K.KILL_SWITCH])
    alert_rules_evaluate(kinds=[K.KILL_SWITCH])  # seen again: still one alert, not updated
    [a] = active(K.KILL_SWITCH)
    assert (a.count, a.severity, a.key) == (1, "warning", f"rule:{rule(K.KILL_SWITCH).pk}:desk")
    trading_state_set(scope="desk", state="HALTED", actor=risk_officer, reason="drill")
    alert_rules_evaluate(kinds=[K.KILL_SWITCH])
    [a2] = active(K.KILL_SWITCH)
    assert a2.pk == a.pk and a2.count == 2 and a2.severity == "critical" and "HALTED" in a2.message
    from risk_app.models import TradingStateRearm

    trading_state_set(scope="desk", state="ACTIVE", actor=risk_officer, reason="drill over")
    trading_state_rearm_confirm(rearm_id=TradingStateRearm.objects.get(status="pending").pk, actor=risk_officer2)
    alert_rules_evaluate(kinds=[K.KILL_SWITCH])
    assert active(K.KILL_SWITCH) == []
    assert Alert.objects.get(pk=a.pk).status == "resolved"


def test_error_rate_when_over_threshold_for_window_then_raised_then_resolved_when_traffic_recovers():
    r = rule(K.ERROR_RATE)
    r.threshold, r.window_minutes, r.params = 5.0, 5, {"min_requests": 20}
    r.save()
    now = time.time()
    for k in range(40):
        series.request_record(ms=10, status=500 if k % 4 == 0 else 200, ts=now - 60)  # 25% errors
    alert_rules_evaluate(kinds=[K.ERROR_RATE], now=now)
    [a] = active(K.ERROR_RATE)
    assert a.value == 25.0 and "25.0%" in a.message
    for _ in range(400):
        series.request_record(ms=10, status=200, ts=now)  # 10 of 440: 2.3%
    alert_rules_evaluate(kinds=[K.ERROR_RATE], now=now)
    assert active(K.ERROR_RATE) == []


def test_error_rate_when_too_few_requests_then_not_raised():
    now = time.time()
    for _ in range(5):
        series.request_record(ms=10, status=500, ts=now)
    alert_rules_evaluate(kinds=[K.ERROR_RATE], now=now)
    assert active(K.ERROR_RATE) == []


def test_p99_latency_when_slow_tail_then_raised():
    now = time.time()
    for k in range(100):
        series.request_record(ms=3000 if k >= 97 else 20, status=200, ts=now)
    alert_rules_evaluate(kinds=[K.P99_LATENCY], now=now)
    [a] = active(K.P99_LATENCY)
    assert a.value == 3000


def test_request_middleware_when_requests_served_then_counted_in_minute(client, trader):
    client.force_login(trader)
    client.get("/api/v1/me/")
    client.get("/api/v1/no-such-endpoint/")
    client.get("/healthz")  # probes are not traffic
    row = series.series_read(1)[-1]
    assert row["requests"] == 2 and row["errors"] == 0 and row["p99_ms"] is not None


def test_queue_depth_when_over_threshold_then_one_alert_per_queue(settings):
    from desk.redis import get_redis

    settings.DESK_QUEUES = ("mon-q-a", "mon-q-b")
    r = get_redis()
    r.delete("mon-q-a", "mon-q-b")
    r.rpush("mon-q-a", *["m"] * 150)
    r.rpush("mon-q-b", "m")
    AlertRule.objects.filter(kind=K.QUEUE_DEPTH).update(params={})  # at once, not "for a minute"
    try:
        alert_rules_evaluate(kinds=[K.QUEUE_DEPTH])
        [a] = active(K.QUEUE_DEPTH)
        assert a.key.endswith(":mon-q-a") and a.value == 150
        r.delete("mon-q-a")
        alert_rules_evaluate(kinds=[K.QUEUE_DEPTH])
        assert active(K.QUEUE_DEPTH) == []
    finally:
        r.delete("mon-q-a", "mon-q-b")


def test_worker_missing_when_known_worker_stops_answering_then_raised_and_resolved_on_return(monkeypatch):
    from config.celery import app

    answering = {"celery@a": True, "celery@b": True}
    monkeypatch.setattr(app.control, "ping", lambda timeout=1.0, **kw: [{n: {"ok": "pong"}} for n, up in answering.items() if up])
    t0 = time.time()
    alert_rules_evaluate(kinds=[K.WORKER_MISSING], now=t0)
    assert active(K.WORKER_MISSING) == []
    answering["celery@b"] = False
    alert_rules_evaluate(kinds=[K.WORKER_MISSING], now=t0 + 10)  # under the 15 s threshold
    assert active(K.WORKER_MISSING) == []
    alert_rules_evaluate(kinds=[K.WORKER_MISSING], now=t0 + 20)
    [a] = active(K.WORKER_MISSING)
    assert "celery@b" in a.message and a.severity == "critical"
    answering["celery@b"] = True
    alert_rules_evaluate(kinds=[K.WORKER_MISSING], now=t0 + 30)
    assert active(K.WORKER_MISSING) == []
    assert {w["name"] for w in series.workers_list()} == {"celery@a", "celery@b"}


def test_worker_missing_when_none_ever_answered_then_raised(monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.control, "ping", lambda timeout=1.0, **kw: [])
    alert_rules_evaluate(kinds=[K.WORKER_MISSING])
    [a] = active(K.WORKER_MISSING)
    assert a.key.endswith(":none")


def test_redis_unreachable_when_ping_fails_then_raised(monkeypatch):
    from ops_app.alert_rules import rules

    class Down:
        def ping(self):
            raise ConnectionError("Connection refused")

    monkeypatch.setattr(rules, "get_redis", lambda: Down())
    alert_rules_evaluate(kinds=[K.REDIS_UNREACHABLE])
    [a] = active(K.REDIS_UNREACHABLE)
    assert "Connection refused" in a.message
    monkeypatch.undo()
    alert_rules_evaluate(kinds=[K.REDIS_UNREACHABLE])
    assert active(K.REDIS_UNREACHABLE) == []


def test_database_unreachable_when_it_returns_then_outage_recorded_raised_and_resolved(monkeypatch):
    from ops_app.alert_rules import rules

    monkeypatch.setattr(rules, "_database_ok", lambda: False)
    assert alert_rules_evaluate() == {"database": "unreachable"}
    monkeypatch.undo()
    alert_rules_evaluate(kinds=[K.DATABASE_UNREACHABLE])
    [a] = Alert.objects.filter(kind=K.DATABASE_UNREACHABLE)
    assert a.status == "resolved" and "was unreachable" in a.message


def test_limit_utilisation_when_over_90_percent_then_raised(book, make_limit):
    from risk_app.models import RiskSnapshot

    pf = book["portfolio"]
    lim = make_limit("max_gross_exposure", "1.0", name="Gross 100%")
    RiskSnapshot.objects.create(portfolio=pf, utilisation={str(lim.pk): 0.95})
    alert_rules_evaluate(kinds=[K.LIMIT_UTILISATION])
    [a] = active(K.LIMIT_UTILISATION)
    assert a.portfolio_id == pf.pk and "95%" in a.message
    RiskSnapshot.objects.filter(portfolio=pf).update(utilisation={str(lim.pk): 0.5})
    alert_rules_evaluate(kinds=[K.LIMIT_UTILISATION])
    assert active(K.LIMIT_UTILISATION) == []


def test_fills_stalled_when_order_open_without_fill_then_raised(book, stepped_clock):
    from datetime import timedelta

    from django.utils import timezone

    from orders_app.models import Order

    from tests.risk.conftest import open_order

    pf = book["portfolio"]
    order = open_order(pf, book["AAPL"], 10)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    stepped_clock.set_market_time(stepped_clock.market_now() + timedelta(hours=1))  # the rule watches the session
    alert_rules_evaluate(kinds=[K.FILLS_STALLED])
    [a] = active(K.FILLS_STALLED)
    assert a.portfolio_id == pf.pk and "no fill yet" in a.message


def test_rule_when_disabled_then_its_alerts_resolve(risk_officer):
    from risk_app.services import trading_state_set

    trading_state_set(scope="desk", state="REDUCING", actor=risk_officer, reason="drill")
    alert_rules_evaluate(kinds=[K.KILL_SWITCH])
    assert len(active(K.KILL_SWITCH)) == 1
    AlertRule.objects.filter(kind=K.KILL_SWITCH).update(enabled=False)
    alert_rules_evaluate(kinds=[K.KILL_SWITCH])
    assert active(K.KILL_SWITCH) == []


def test_tick_when_run_then_evaluates_and_records_when(monkeypatch):
    from config.celery import app
    from desk.redis import get_redis
    from ops_app.alert_rules.rules import LAST_KEY, alert_rules_tick

    monkeypatch.setattr(app.control, "ping", lambda timeout=1.0, **kw: [{"celery@x": {"ok": "pong"}}])
    result = alert_rules_tick()
    assert result["Kill switch engaged"] == 0 and float(get_redis().get(LAST_KEY)) > 0
    assert json.loads(get_redis().hget(series.WORKERS_KEY, "celery@x"))["last_seen"] > 0
