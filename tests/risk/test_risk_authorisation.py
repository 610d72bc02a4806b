"""Who may change risk: only risk officers (DESIGN.md, "Roles"): admins edit no limits and change no trading state;
and the risk statuses change only through their state machines."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from desk.lifecycle import StatusWriteRefused
from risk_app import checks as K, services
from risk_app.models import PendingLimitChange, RiskLimit, TradingStateChange, TradingStateRearm, TradingStateRecord
from risk_app.selectors import desk_trading_state

LIMIT = {"name": "Max qty", "kind": K.MAX_ORDER_QTY, "threshold": "1000", "reason": "initial"}


def test_limit_update_when_admin_then_forbidden_and_unchanged(db, make_limit, desk_admin):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    with pytest.raises(services.RiskRoleRefused):
        services.limit_update(limit_id=lim.pk, actor=desk_admin, reason="tighter", threshold="10")
    with pytest.raises(services.RiskRoleRefused):
        services.limit_create(actor=desk_admin, reason="new", name="x", kind=K.MAX_ORDER_QTY, threshold="5")
    assert RiskLimit.objects.get().threshold == D(1000)


def test_trading_state_set_when_admin_then_forbidden_and_still_active(db, desk_admin):
    with pytest.raises(services.RiskRoleRefused):
        services.trading_state_set(scope="desk", state="HALTED", actor=desk_admin, reason="drill")
    assert desk_trading_state() == "ACTIVE" and not TradingStateChange.objects.exists()


def test_limit_change_approve_when_admin_then_forbidden_and_still_pending(db, make_limit, risk_officer, desk_admin):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    change = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="wider", threshold="5000").pending
    with pytest.raises(services.RiskRoleRefused):
        services.limit_change_approve(change_id=change.pk, actor=desk_admin)
    assert PendingLimitChange.objects.get().status == "pending" and RiskLimit.objects.get().threshold == D(1000)


def test_risk_api_when_admin_edits_limit_or_halts_then_403_and_nothing_changed(db, api_for, make_limit, desk_admin):
    api = api_for(desk_admin)
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    assert api.post("/api/v1/risk/limits/", LIMIT, format="json").status_code == 403
    assert api.patch(f"/api/v1/risk/limits/{lim.pk}/", {"threshold": "1", "reason": "x"}, format="json").status_code == 403
    assert api.post("/api/v1/risk/state/", {"scope": "desk", "state": "HALTED", "reason": "x"}, format="json").status_code == 403
    assert RiskLimit.objects.count() == 1 and RiskLimit.objects.get().threshold == D(1000)
    assert desk_trading_state() == "ACTIVE"
    assert api.get("/api/v1/risk/limits/").status_code == 200


def test_risk_page_when_admin_posts_limit_edit_or_halt_then_403(db, client, make_limit, desk_admin):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    client.force_login(desk_admin)
    assert client.post(f"/risk/limits/{lim.pk}/edit/", {"threshold": "1", "reason": "x"}).status_code == 403
    assert client.post("/risk/state/", {"scope": "desk", "state": "HALTED", "reason": "x"}).status_code == 403
    assert RiskLimit.objects.get().threshold == D(1000) and desk_trading_state() == "ACTIVE"


def test_pending_limit_change_when_status_written_directly_then_refused(db, make_limit, risk_officer):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    change = services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="wider", threshold="5000").pending
    change.status = PendingLimitChange.Status.APPROVED
    with pytest.raises(StatusWriteRefused):
        change.save()
    with pytest.raises(StatusWriteRefused):
        PendingLimitChange.objects.filter(pk=change.pk).update(status="approved")
    with pytest.raises(StatusWriteRefused):
        PendingLimitChange.objects.create(limit=lim, limit_name="x", reason="r", requested_by=risk_officer, status="approved")
    assert PendingLimitChange.objects.get(pk=change.pk).status == "pending"


def test_trading_state_when_written_directly_then_refused(db, risk_officer):
    services.trading_state_set(scope="desk", state="REDUCING", actor=risk_officer, reason="drill")
    rec = TradingStateRecord.objects.get(scope="desk")
    rec.state = "ACTIVE"
    with pytest.raises(StatusWriteRefused):
        rec.save()
    with pytest.raises(StatusWriteRefused):
        TradingStateRecord.objects.filter(scope="desk").update(state="HALTED")
    rec.reason = "a note"
    rec.save(update_fields=["reason"])  # other fields stay writable
    assert TradingStateRecord.objects.get(scope="desk").state == "REDUCING"


def test_rearm_request_when_status_written_directly_then_refused(db, risk_officer):
    services.trading_state_set(scope="desk", state="HALTED", actor=risk_officer, reason="incident")
    rearm = services.trading_state_set(scope="desk", state="ACTIVE", actor=risk_officer, reason="fixed").rearm
    with pytest.raises(StatusWriteRefused):
        TradingStateRearm.objects.filter(pk=rearm.pk).update(status="confirmed")
    assert desk_trading_state() == "HALTED" and TradingStateRearm.objects.get().status == "pending"
