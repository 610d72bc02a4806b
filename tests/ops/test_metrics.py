"""Metrics move when the things they count happen."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from risk_app import checks as K

from tests.signals.signal_fixtures import item
from tests.risk.conftest import intent

pytestmark = pytest.mark.django_db


def sample(name, labels=None):
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_pre_trade_check_when_denied_then_check_and_denial_counters_move(book, make_limit):
    from django.db import transaction

    from risk_app.services import pre_trade_check

    pf = book["portfolio"]
    make_limit(K.MAX_ORDER_NOTIONAL, 100000)
    before = (sample("desk_pretrade_checks_total", {"result": "deny"}), sample("desk_pretrade_checks_total", {"result": "pass"}),
              sample("desk_pretrade_denials_total", {"kind": K.MAX_ORDER_NOTIONAL}))
    with transaction.atomic():
        [bad] = pre_trade_check(portfolio_id=pf.pk, intents=[intent(pf, "AAPL", 5000)])
        [ok] = pre_trade_check(portfolio_id=pf.pk, intents=[intent(pf, "AAPL", 10)])
    assert not bad.passed and ok.passed
    assert sample("desk_pretrade_checks_total", {"result": "deny"}) == before[0] + 1
    assert sample("desk_pretrade_checks_total", {"result": "pass"}) == before[1] + 1
    assert sample("desk_pretrade_denials_total", {"kind": K.MAX_ORDER_NOTIONAL}) == before[2] + 1


def test_signal_batch_when_stored_then_signals_received_counts_per_agent(
    market_clock, instruments, vendor_agent, api_client_user, django_capture_on_commit_callbacks
):
    from signals_app.services import signal_batch_create

    before = sample("desk_signals_received_total", {"agent": "vendor"})
    with django_capture_on_commit_callbacks(execute=True):
        signal_batch_create(user=api_client_user, items=[item(k) for k in range(3)])
    assert sample("desk_signals_received_total", {"agent": "vendor"}) == before + 3
    with django_capture_on_commit_callbacks(execute=True):  # a retry of the same batch stores nothing new
        signal_batch_create(user=api_client_user, items=[item(k) for k in range(3)])
    assert sample("desk_signals_received_total", {"agent": "vendor"}) == before + 3


def test_proposal_transition_when_committed_then_outcome_counted(portfolio, trader, django_capture_on_commit_callbacks):
    from portfolio_app.models import RebalanceProposal
    from portfolio_app.services import proposal_transition

    p = RebalanceProposal.objects.create(portfolio=portfolio)
    before = sample("desk_proposals_total", {"outcome": "REJECTED"})
    with django_capture_on_commit_callbacks(execute=True):
        proposal_transition(proposal_id=p.pk, to="PENDING_APPROVAL")
        proposal_transition(proposal_id=p.pk, to="REJECTED", actor=trader, reason="not today")
    assert sample("desk_proposals_total", {"outcome": "REJECTED"}) == before + 1


def test_risk_recompute_when_limits_measured_then_utilisation_gauge_set(book, make_limit):
    from risk_app.services import risk_monitor_recompute

    pf = book["portfolio"]
    lim = make_limit(K.MAX_GROSS_EXPOSURE, "2.0", name="Gross 200%")
    risk_monitor_recompute(portfolio_id=pf.pk)
    assert REGISTRY.get_sample_value("desk_risk_utilisation_ratio", {"limit": f"{pf.pk}:{lim.name}"}) is not None


def test_queue_depths_when_sampled_then_gauge_and_minute_series_hold_llen():
    from desk.redis import get_redis
    from ops_app.alert_rules.series import queue_depths, series_read

    r = get_redis()
    r.delete("mon-test-queue")
    r.rpush("mon-test-queue", *["x"] * 7)
    try:
        assert queue_depths(["mon-test-queue"]) == {"mon-test-queue": 7}
        assert sample("desk_celery_queue_depth", {"queue": "mon-test-queue"}) == 7
        assert series_read(1)[-1]["queues"]["mon-test-queue"] == 7
    finally:
        r.delete("mon-test-queue")


def test_alert_raised_when_committed_then_alerts_active_gauge_and_event_count(django_capture_on_commit_callbacks):
    from risk_app.services import alert_raise, alert_resolve

    with django_capture_on_commit_callbacks(execute=True):
        alert, _ = alert_raise(kind="test", key="t:gauge", message="m")
    assert sample("desk_alerts_active") >= 1
    with django_capture_on_commit_callbacks(execute=True):
        alert_resolve(key="t:gauge")
    assert sample("desk_alerts_active") == 0


def test_metrics_switch_when_off_then_counters_do_not_move():
    from desk import metrics

    before = sample("desk_fills_total", {"venue": "switch-test"})
    metrics.metrics_enable(False)
    try:
        metrics.fills.labels("switch-test").inc()
    finally:
        metrics.metrics_enable(True)
    assert sample("desk_fills_total", {"venue": "switch-test"}) == before
    metrics.fills.labels("switch-test").inc()
    assert sample("desk_fills_total", {"venue": "switch-test"}) == before + 1
