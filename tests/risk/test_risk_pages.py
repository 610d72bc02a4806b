"""The Risk page: everyone desk-side reads; only risk officers see and use the controls."""

from __future__ import annotations

from decimal import Decimal as D

from risk_app import checks as K
from risk_app.models import PendingLimitChange, RiskLimit
from risk_app.selectors import desk_trading_state


def test_risk_page_when_trader_then_read_only_and_posts_refused(book, client, trader, make_limit):
    lim = make_limit(K.MAX_ORDER_QTY, 1000, name="Max qty")
    client.force_login(trader)
    page = client.get("/risk/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Max qty" in html and "risk-limit-edit" not in html and 'name="reason"' not in html and "HALT</button>" not in html
    assert client.post(f"/risk/limits/{lim.pk}/edit/", {"threshold": "1", "reason": "x"}).status_code == 403
    assert client.post("/risk/state/", {"scope": "desk", "state": "HALTED", "reason": "x"}).status_code == 403
    assert RiskLimit.objects.get().threshold == D(1000) and desk_trading_state() == "ACTIVE"


def test_risk_page_when_officer_then_controls_and_no_approve_for_own_change(book, client, risk_officer, risk_officer2, make_limit):
    lim = make_limit(K.MAX_ORDER_QTY, 1000, name="Max qty")
    client.force_login(risk_officer)
    assert client.post(f"/risk/limits/{lim.pk}/edit/", {"threshold": "3000", "action": "block", "enabled_present": "1",
                                                        "enabled": "on", "reason": "more room"}).status_code == 302
    change = PendingLimitChange.objects.get()
    html = client.get("/risk/").content.decode()
    assert "HALT</button>" in html and f"/risk/changes/{change.pk}/approve/" not in html
    client.force_login(risk_officer2)
    html = client.get("/risk/").content.decode()
    assert f"/risk/changes/{change.pk}/approve/" in html
    assert client.post(f"/risk/changes/{change.pk}/approve/").status_code == 302
    assert RiskLimit.objects.get().threshold == D(3000)


def test_risk_page_when_bad_threshold_then_400_with_field_error(book, client, risk_officer, make_limit):
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    client.force_login(risk_officer)
    r = client.post(f"/risk/limits/{lim.pk}/edit/", {"form": f"limit-{lim.pk}", "threshold": "lots", "reason": "x"})
    assert r.status_code == 400 and 'data-field="threshold"' in r.content.decode()


def test_limit_history_page_when_changed_then_shows_before_after_why(book, client, risk_officer, make_limit):
    from risk_app import services

    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="calmer open", threshold="400")
    client.force_login(risk_officer)
    html = client.get(f"/risk/limits/{lim.pk}/history/").content.decode()
    assert "calmer open" in html and "threshold: 1000" in html and "threshold: 400" in html


def test_halt_from_page_when_officer_then_frame_shows_halted(book, client, risk_officer):
    client.force_login(risk_officer)
    client.post("/risk/state/", {"scope": "desk", "state": "HALTED", "reason": "drill"})
    html = client.get("/risk/").content.decode()
    assert 'class="state-halted"' in html or "state-halted" in html
    assert "Request re-arm" in html
