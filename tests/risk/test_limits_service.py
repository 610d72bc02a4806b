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
