"""The Monitoring page, its data endpoint, rule editing and the live/shadow switches."""

from __future__ import annotations

import pytest

from ops_app.models import AlertRule, ModeChange

pytestmark = pytest.mark.django_db


def test_monitoring_page_when_desk_user_then_renders_charts_alerts_and_workers(client, trader):
    from risk_app.services import alert_raise

    alert_raise(kind="queue_depth", key="t:page", message="Queue 'routing' has 130 messages waiting")
    client.force_login(trader)
    response = client.get("/monitoring/")
    body = response.content.decode()
    assert response.status_code == 200
    for part in ('id="chart-latency"', 'id="chart-errors"', 'id="chart-throughput"', 'id="chart-queues"',
                 "js/monitoring.js", "Queue &#x27;routing&#x27; has 130 messages waiting", 'id="workers"'):
        assert part in body
    assert "<script>" not in body  # no inline script (CSP)
    assert "monitoring-rule-save" not in body and 'id="rollout-panel"' not in body  # admins only


def test_monitoring_page_when_admin_then_rule_forms_and_rollout_shown(client, desk_admin, portfolio):
    client.force_login(desk_admin)
    body = client.get("/monitoring/").content.decode()
    assert 'class="rule-form"' in body and 'id="rollout-panel"' in body and "Test Book" in body


def test_monitoring_page_when_api_client_or_anonymous_then_refused(client, api_client_user):
    assert client.get("/monitoring/").status_code == 302
    client.force_login(api_client_user)
    assert client.get("/monitoring/").status_code == 403
    assert client.get("/monitoring/data/").status_code == 403


def test_monitoring_data_when_requests_recorded_then_series_of_the_hour(client, trader):
    from ops_app.alert_rules import series

    series.request_record(ms=12.5, status=200)
    series.request_record(ms=40, status=502)
    client.force_login(trader)
    data = client.get("/monitoring/data/").json()
    assert len(data["points"]) == 60
    # The two records land in this minute or, across a minute boundary, the one before.
    recent = data["points"][-2:]
    assert sum(p["requests"] for p in recent) >= 2 and sum(p["errors"] for p in recent) >= 1
    assert max(p["p99_ms"] or 0 for p in recent) >= 40 and all("fills" in p for p in recent)
    assert "latencies" not in recent[-1] and isinstance(data["active"], list)


def test_rule_save_when_admin_then_changed_with_history_and_others_refused(client, desk_admin, trader):
    rule = AlertRule.objects.get(kind="queue_depth")
    form = {"name": rule.name, "kind": rule.kind, "severity": "critical", "threshold": "250", "window_minutes": "5",
            "params": "{}", "webhook_url": "", "note": "", "enabled": "on"}
    client.force_login(trader)
    assert client.post(f"/monitoring/rules/{rule.pk}/", form).status_code == 403
    client.force_login(desk_admin)
    assert client.post(f"/monitoring/rules/{rule.pk}/", form).status_code == 302
    rule.refresh_from_db()
    assert (rule.threshold, rule.severity, rule.updated_by) == (250.0, "critical", desk_admin)
    assert rule.history.first().history_user == desk_admin
    new = {**form, "name": "Routing queue over 10", "threshold": "10"}
    client.post("/monitoring/rules/new/", new)
    assert AlertRule.objects.filter(name="Routing queue over 10").exists()


def test_portfolio_mode_api_when_admin_then_switched_and_audited_and_trader_refused(api_for, desk_admin, trader, portfolio):
    assert api_for(trader).patch(f"/api/v1/portfolios/{portfolio.pk}/mode/", {"mode": "shadow"}, format="json").status_code == 403
    r = api_for(desk_admin).patch(f"/api/v1/portfolios/{portfolio.pk}/mode/", {"mode": "shadow", "reason": "new strategy"}, format="json")
    assert r.status_code == 200 and r.json() == {"id": portfolio.pk, "mode": "shadow"}
    portfolio.refresh_from_db()
    assert portfolio.mode == "shadow"
    [c] = ModeChange.objects.all()
    assert (c.target, c.from_mode, c.to_mode, c.actor, c.reason) == ("portfolio", "live", "shadow", desk_admin, "new strategy")
    assert api_for(desk_admin).patch(f"/api/v1/portfolios/{portfolio.pk}/mode/", {"mode": "paper"}, format="json").status_code == 400
    assert api_for(desk_admin).patch("/api/v1/portfolios/999999/mode/", {"mode": "live"}, format="json").status_code == 404


def test_agent_in_shadow_when_aggregating_then_signals_stored_but_left_out_of_live_views(
    market_clock, instruments, vendor_agent, api_client_user, desk_admin, api_for
):
    from signals_app.selectors import live_signal_columns
    from signals_app.services import signal_batch_create

    from tests.signals.signal_fixtures import item

    signal_batch_create(user=api_client_user, items=[item(k) for k in range(3)])
    now = market_clock.market_now()
    assert len(live_signal_columns(now)["agents"]) == 3
    r = api_for(desk_admin).patch(f"/api/v1/agents/{vendor_agent.pk}/mode/", {"mode": "shadow"}, format="json")
    assert r.status_code == 200
    assert len(live_signal_columns(now)["agents"]) == 0
    assert len(live_signal_columns(now, exclude_shadow=False)["agents"]) == 3
    api_for(desk_admin).patch(f"/api/v1/agents/{vendor_agent.pk}/mode/", {"mode": "live"}, format="json")
    assert len(live_signal_columns(now)["agents"]) == 3
    assert list(ModeChange.objects.filter(target="agent").values_list("to_mode", flat=True)) == ["live", "shadow"]


def test_mode_switch_page_when_admin_posts_then_portfolio_switched(client, desk_admin, portfolio):
    client.force_login(desk_admin)
    r = client.post("/monitoring/mode/", {"target": "portfolio", "id": portfolio.pk, "mode": "shadow", "reason": "trial"})
    assert r.status_code == 302
    portfolio.refresh_from_db()
    assert portfolio.mode == "shadow"
