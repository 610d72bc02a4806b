"""Limits with four eyes: tightening at once, loosening waits for a different risk officer; history."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from risk_app import checks as K
from risk_app import selectors, services
from risk_app.models import PendingLimitChange, RiskLimit


def test_limit_update_when_tightened_then_applies_at_once(db, make_limit, risk_officer):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    res = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="calmer markets", threshold="500")
    assert res.applied and res.pending is None
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(500)


def test_limit_update_when_loosened_then_waits_for_second_officer(db, make_limit, risk_officer, risk_officer2):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    res = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="client mandate", threshold="2000")
    assert not res.applied and res.pending.status == "pending"
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(1000)
    services.limit_change_approve(change_id=res.pending.pk, actor=risk_officer2)
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(2000)


def test_limit_change_approve_when_own_change_then_refused_and_nothing_changes(db, make_limit, risk_officer):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    res = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="wider", threshold="2000")
    with pytest.raises(services.RiskPermissionDenied):
        services.limit_change_approve(change_id=res.pending.pk, actor=risk_officer)
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(1000)
    assert PendingLimitChange.objects.get(pk=res.pending.pk).status == "pending"


@pytest.mark.parametrize("change", [{"enabled": False}, {"action": "warn"}])
def test_limit_update_when_disabled_or_softened_then_pending(db, make_limit, risk_officer, change):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    assert not services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="r", **change).applied


def test_limit_delete_when_approved_then_gone_and_history_kept(db, make_limit, risk_officer, risk_officer2):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    res = services.limit_delete(limit_id=lim.pk, actor=risk_officer, reason="obsolete")
    assert RiskLimit.objects.filter(pk=lim.pk).exists()
    services.limit_change_approve(change_id=res.pending.pk, actor=risk_officer2)
    assert not RiskLimit.objects.filter(pk=lim.pk).exists()
    hist = selectors.limit_history(lim.pk)
    assert [h["type"] for h in hist] == ["deleted", "created"]
    assert hist[0]["why"] == "obsolete" and hist[0]["approved_by"] == "r2" and hist[0]["who"] == "r1"


def test_limit_history_when_changed_then_records_who_when_before_after_why_approver(db, make_limit, risk_officer, risk_officer2):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="tighten for the open", threshold="800")
    pend = services.limit_update(limit_id=lim.pk, actor=risk_officer2, reason="back to normal", threshold="1200").pending
    services.limit_change_approve(change_id=pend.pk, actor=risk_officer, reason="agreed")
    latest, tightened, created = selectors.limit_history(lim.pk)
    assert created["type"] == "created" and created["who"] == "r1"
    assert tightened["before"] == {"threshold": "1000"}
    assert tightened["after"]["threshold"] == "800" and tightened["why"] == "tighten for the open"
    assert tightened["approved_by"] is None
    assert latest["before"]["threshold"] == "800" and latest["after"]["threshold"] == "1200"
    assert latest["who"] == "r2" and latest["approved_by"] == "r1" and latest["why"].startswith("back to normal")
    assert latest["when"] >= tightened["when"]


def test_limit_create_when_trader_then_refused(db, trader):
    with pytest.raises(services.RiskPermissionDenied):
        services.limit_create(actor=trader, reason="r", name="x", kind=K.MAX_ORDER_QTY, threshold="1")
    assert not RiskLimit.objects.exists()


def test_limit_create_when_no_reason_or_bad_fields_then_field_errors(db, risk_officer):
    with pytest.raises(services.RiskInvalid) as err:
        services.limit_create(actor=risk_officer, reason=" ", name="x", kind=K.MAX_ORDER_QTY, threshold="1")
    assert "reason" in err.value.errors
    with pytest.raises(services.RiskInvalid) as err:
        services.limit_create(actor=risk_officer, reason="r", name="x", kind="nope", threshold="abc")
    assert set(err.value.errors) >= {"threshold"}
    with pytest.raises(services.RiskInvalid) as err:
        services.limit_create(actor=risk_officer, reason="r", name="x", kind=K.MAX_ORDER_QTY, threshold="1", scope="portfolio", scope_key="999")
    assert "scope_key" in err.value.errors


def test_limit_change_reject_when_rejected_then_nothing_changes(db, make_limit, risk_officer, risk_officer2):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    pend = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="wider", threshold="5000").pending
    services.limit_change_reject(change_id=pend.pk, actor=risk_officer2, reason="no")
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(1000)
    with pytest.raises(services.RiskInvalid):
        services.limit_change_approve(change_id=pend.pk, actor=risk_officer2)


def test_demo_limits_when_loaded_then_valid_and_idempotent(db, portfolio, risk_officer):
    services.demo_limits(portfolio=portfolio, users={"risk": risk_officer})
    n = RiskLimit.objects.count()
    services.demo_limits(portfolio=portfolio, users={"risk": risk_officer})
    assert n >= 15 and RiskLimit.objects.count() == n
    assert len({r.kind for r in RiskLimit.objects.all()}) == len(K.KINDS)


def test_limit_change_approve_when_the_limit_was_tightened_since_the_request_then_refused_and_marked_stale(db, make_limit, risk_officer, risk_officer2):
    lim = make_limit(K.MAX_ORDER_QTY, 50)
    loosen = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="client mandate", threshold="200").pending
    services.limit_update(limit_id=lim.pk, actor=risk_officer2, reason="calmer: tighten", threshold="40")  # at once
    with pytest.raises(services.LimitChangeStale, match="the limit changed since this request"):
        services.limit_change_approve(change_id=loosen.pk, actor=risk_officer2)
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(40)  # the later tightening stands
    change = PendingLimitChange.objects.get(pk=loosen.pk)
    assert change.status == "expired" and change.decision_reason.startswith("stale: the limit changed")


def test_limit_update_when_a_var_method_is_switched_then_it_waits_for_a_second_officer(db, make_limit, risk_officer):
    lim = make_limit(K.MAX_VAR_95, 100000, params={"method": "historical"})
    res = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="parametric reads better",
                                params={"method": "parametric"})
    assert not res.applied and res.pending.proposed == {"params": {"method": "parametric"}}
    assert RiskLimit.objects.get(pk=lim.pk).params == {"method": "historical"}


def test_limit_change_when_older_than_its_time_then_expired_by_the_beat_and_not_approvable(db, make_limit, risk_officer, risk_officer2, settings):
    from datetime import timedelta

    from django.utils import timezone

    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    change = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="wider", threshold="2000").pending
    settings.DESK_LIMIT_CHANGE_TTL_MINUTES = 60
    assert services.limit_changes_expire(now=timezone.now() + timedelta(minutes=30)) == 0
    assert services.limit_changes_expire(now=timezone.now() + timedelta(minutes=61)) == 1
    assert PendingLimitChange.objects.get(pk=change.pk).status == "expired"
    with pytest.raises(services.RiskInvalid):  # no longer pending
        services.limit_change_approve(change_id=change.pk, actor=risk_officer2)
    assert RiskLimit.objects.get(pk=lim.pk).threshold == D(1000)
