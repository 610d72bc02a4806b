"""Live risk monitoring: one RiskSnapshot per portfolio; limit alerts raised once, updated, resolved."""

from __future__ import annotations

from decimal import Decimal as D

from portfolio_app.models import Position
from risk_app import checks as K
from risk_app import services
from risk_app.models import Alert, RiskSnapshot


def test_monitor_when_over_limit_then_alert_raised_once_updated_and_resolved(book, make_limit, risk_officer):
    pf = book["portfolio"]
    pos = Position.objects.create(portfolio=pf, instrument=book["AAPL"], quantity=D(2000), avg_cost=D(100))
    lim = make_limit(K.MAX_POSITION_NOTIONAL, 150000, name="Max position")

    services.risk_monitor_recompute(portfolio_id=pf.pk)  # 200,000 of 150,000
    services.risk_monitor_recompute(portfolio_id=pf.pk)  # unchanged: no second alert, no update
    alert = Alert.objects.get()
    assert (alert.status, alert.severity, alert.count, alert.limit_id) == ("active", "critical", 1, lim.pk)
    assert "133%" in alert.message

    pos.quantity = D(2500)
    pos.save()
    services.risk_monitor_recompute(portfolio_id=pf.pk)
    alert.refresh_from_db()
    assert alert.count == 2 and "167%" in alert.message and Alert.objects.count() == 1

    pos.quantity = D(1000)
    pos.save()
    services.risk_monitor_recompute(portfolio_id=pf.pk)
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_at is not None

    pos.quantity = D(3000)
    pos.save()
    services.risk_monitor_recompute(portfolio_id=pf.pk)
    assert Alert.objects.filter(status="active").count() == 1 and Alert.objects.count() == 2


def test_monitor_when_computed_then_snapshot_holds_var_drawdown_and_utilisation(book, make_limit):
    pf = book["portfolio"]
    Position.objects.create(portfolio=pf, instrument=book["XOM"], quantity=D(1000), avg_cost=D(50))
    lim = make_limit(K.MAX_CONCENTRATION, "0.10")
    services.risk_monitor_recompute(portfolio_id=pf.pk)
    snap = RiskSnapshot.objects.get(portfolio=pf)
    assert snap.report["gross"] == 50000.0 and snap.report["drawdown"] == 0.0
    assert {"var_hist_95", "var_hist_99", "cvar_hist_95", "var_param_99", "cvar_param_99"} <= set(snap.report)
    assert abs(snap.utilisation[str(lim.pk)] - 50000 / 1050000 / 0.10) < 1e-9


def test_alert_events_when_raised_updated_resolved_then_pushed_after_commit(db, django_capture_on_commit_callbacks, monkeypatch):
    from desk import events

    sent = []
    monkeypatch.setattr(events, "send_now", lambda t, p, g: sent.append(t))
    with django_capture_on_commit_callbacks(execute=True):
        services.alert_raise(kind="x", key="k1", message="one")
        services.alert_raise(kind="x", key="k1", message="one")
        services.alert_raise(kind="x", key="k1", message="two")
        services.alert_resolve(key="k1")
    assert sent == ["alert.raised", "alert.updated", "alert.resolved"]


def test_alerts_api_when_acknowledged_then_who_recorded(db, api_for, trader):
    alert, _ = services.alert_raise(kind="x", key="k2", message="desk-wide")
    api = api_for(trader)
    assert [a["id"] for a in api.get("/api/v1/alerts/?status=active").json()] == [alert.pk]
    r = api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "t1"


def test_recompute_schedule_when_many_fills_then_one_task_debounced(db, django_capture_on_commit_callbacks, monkeypatch):
    from desk import tasks as desk_tasks
    from risk_app.services.monitor import risk_recompute_debounce_clear

    calls = []
    monkeypatch.setattr(desk_tasks, "enqueue", lambda name, args, countdown: calls.append(args) if name == "risk_app.tasks.risk_recompute" else None)
    risk_recompute_debounce_clear(424242)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            services.risk_recompute_schedule(portfolio_id=424242)
    risk_recompute_debounce_clear(424242)
    assert calls == [(424242,)]
