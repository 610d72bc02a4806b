"""Webhook delivery through a real Celery worker to a receiver on loopback: exactly one
delivery per alert state change, retried with backoff when the receiver fails."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _wait(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_alert_when_raised_updated_and_resolved_then_one_delivery_per_state_change_retried_after_500(
    celery_worker_live, receiver, settings
):
    from ops_app.models import AlertDelivery, AlertRule
    from risk_app.services import alert_raise, alert_resolve

    settings.DESK_ALERT_WEBHOOK_BACKOFF_SECONDS = 0.2
    hook = receiver(statuses=[500])  # the first POST fails, every later one succeeds
    rule = AlertRule.objects.get(kind="kill_switch")
    rule.webhook_url = hook.url
    rule.save()
    key = f"{rule.key_prefix}desk"

    alert, raised = alert_raise(kind="kill_switch", key=key, message="Trading HALTED (desk)", severity="critical")
    alert_raise(kind="kill_switch", key=key, message="Trading HALTED (desk)", severity="critical")  # de-duplicated
    alert_raise(kind="kill_switch", key=key, message="Trading HALTED (desk): still", severity="critical")  # an update
    assert raised
    assert _wait(lambda: AlertDelivery.objects.filter(state="raised", status="delivered").exists())
    alert_resolve(key=key)
    assert _wait(lambda: AlertDelivery.objects.filter(state="resolved", status="delivered").exists())
    time.sleep(1.0)  # anything extra would arrive now

    keys = [p["key"] for p in hook.posts]
    assert keys == [f"alert-{alert.pk}-raised", f"alert-{alert.pk}-raised", f"alert-{alert.pk}-resolved"]
    assert [p["status"] for p in hook.posts] == [500, 200, 200]
    assert [p["body"]["event"] for p in hook.posts] == ["alert.raised", "alert.raised", "alert.resolved"]
    assert hook.posts[0]["body"]["alert"]["message"] == "Trading HALTED (desk)"
    d = AlertDelivery.objects.get(state="raised")
    assert d.attempts == 2 and d.delivered_at is not None
    assert AlertDelivery.objects.count() == 2


def test_alert_when_no_webhook_configured_then_no_delivery(settings):
    from ops_app.models import AlertDelivery
    from risk_app.services import alert_raise

    settings.DESK_ALERT_WEBHOOK_URL = ""
    alert_raise(kind="test", key="t:no-hook", message="m")
    assert not AlertDelivery.objects.exists()


def test_delivery_when_message_lost_then_sweep_sends_it_once(receiver, settings, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from ops_app.alert_rules import webhooks
    from ops_app.models import AlertDelivery
    from risk_app.services import alert_raise

    hook = receiver()
    settings.DESK_ALERT_WEBHOOK_URL = hook.url
    monkeypatch.setattr(webhooks, "delivery_enqueue", lambda pk, countdown=0: False)  # the broker is down at commit
    alert, _ = alert_raise(kind="test", key="t:lost", message="m")
    d = AlertDelivery.objects.get()
    AlertDelivery.objects.filter(pk=d.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    monkeypatch.setattr(webhooks, "delivery_enqueue", lambda pk, countdown=0: webhooks.alert_delivery_send(delivery_id=pk) == "delivered")
    assert webhooks.deliveries_sweep() == 1
    assert webhooks.deliveries_sweep() == 0  # delivered: never again
    assert [p["key"] for p in hook.posts] == [f"alert-{alert.pk}-raised"]
