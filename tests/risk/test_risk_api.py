"""The risk API: roles (403 and nothing changed), field errors (400), four eyes, check, exposure, alerts."""

from __future__ import annotations

from tests.helpers import error_fields

from decimal import Decimal as D

from risk_app import checks as K
from risk_app.models import PendingLimitChange, RiskLimit, TradingStateChange
from risk_app.selectors import desk_trading_state

LIMIT = {"name": "Max qty", "kind": K.MAX_ORDER_QTY, "threshold": "1000", "reason": "initial"}


def test_limits_api_when_trader_writes_then_403_and_nothing_changed(db, api_for, trader, make_limit):
    api = api_for(trader)
    lim = make_limit(K.MAX_ORDER_QTY, 1000)
    assert api.post("/api/v1/risk/limits/", LIMIT, format="json").status_code == 403
    assert api.patch(f"/api/v1/risk/limits/{lim.pk}/", {"threshold": "1", "reason": "x"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/risk/limits/{lim.pk}/", {"reason": "x"}, format="json").status_code == 403
    assert RiskLimit.objects.count() == 1 and RiskLimit.objects.get().threshold == D(1000)
    assert api.get("/api/v1/risk/limits/").status_code == 200


def test_state_api_when_trader_posts_then_403_and_state_unchanged(db, api_for, trader):
    r = api_for(trader).post("/api/v1/risk/state/", {"scope": "desk", "state": "HALTED", "reason": "x"}, format="json")
    assert r.status_code == 403
    assert desk_trading_state() == "ACTIVE" and not TradingStateChange.objects.exists()


def test_limits_api_when_bad_input_then_400_with_field_errors(db, api_for, risk_officer):
    r = api_for(risk_officer).post("/api/v1/risk/limits/", {**LIMIT, "threshold": "abc", "reason": ""}, format="json")
    assert r.status_code == 400 and {"threshold", "reason"} <= error_fields(r)
    r = api_for(risk_officer).post("/api/v1/risk/limits/", {**LIMIT, "scope": "portfolio", "scope_key": "99"}, format="json")
    assert r.status_code == 400 and "scope_key" in error_fields(r)


def test_limits_api_when_loosened_then_202_and_own_approval_403(db, api_for, risk_officer, risk_officer2):
    r1, r2 = api_for(risk_officer), api_for(risk_officer2)
    lim = r1.post("/api/v1/risk/limits/", LIMIT, format="json").json()
    r = r1.patch(f"/api/v1/risk/limits/{lim['id']}/", {"threshold": "5000", "reason": "bigger clients"}, format="json")
    assert r.status_code == 202 and r.json()["applied"] is False
    change = r.json()["pending"]["id"]
    assert r1.post(f"/api/v1/risk/pending-changes/{change}/approve/", {}, format="json").status_code == 403
    assert RiskLimit.objects.get().threshold == D(1000)
    assert [c["id"] for c in r2.get("/api/v1/risk/pending-changes/").json()] == [change]
    assert r2.post(f"/api/v1/risk/pending-changes/{change}/approve/", {}, format="json").status_code == 200
    assert RiskLimit.objects.get().threshold == D(5000)
    hist = r2.get(f"/api/v1/risk/limits/{lim['id']}/history/").json()
    assert hist[0]["before"] == {"threshold": "1000"} and hist[0]["after"] == {"threshold": "5000"}
    assert hist[0]["who"] == "r1" and hist[0]["approved_by"] == "r2" and hist[0]["why"] == "bigger clients"


def test_limits_api_when_tightened_then_200_applied(db, api_for, risk_officer):
    api = api_for(risk_officer)
    lim = api.post("/api/v1/risk/limits/", LIMIT, format="json").json()
    r = api.patch(f"/api/v1/risk/limits/{lim['id']}/", {"threshold": "10", "reason": "tighter"}, format="json")
    assert r.status_code == 200 and r.json()["applied"] and RiskLimit.objects.get().threshold == D(10)
    assert not PendingLimitChange.objects.exists()


def test_state_api_when_halted_then_rearm_needs_second_officer(db, api_for, risk_officer, risk_officer2):
    r1, r2 = api_for(risk_officer), api_for(risk_officer2)
    assert r1.post("/api/v1/risk/state/", {"scope": "desk", "state": "HALTED", "reason": "incident"}, format="json").status_code == 200
    r = r1.post("/api/v1/risk/state/", {"scope": "desk", "state": "ACTIVE", "reason": "fixed"}, format="json")
    assert r.status_code == 202
    rearm = r.json()["rearm"]["id"]
    assert r1.post("/api/v1/risk/state/confirm/", {"rearm_id": rearm}, format="json").status_code == 403
    assert desk_trading_state() == "HALTED"
    assert r2.post("/api/v1/risk/state/confirm/", {"rearm_id": rearm}, format="json").status_code == 200
    assert desk_trading_state() == "ACTIVE"
    states = r2.get("/api/v1/risk/state/").json()
    assert states[0]["scope"] == "desk" and states[0]["state"] == "ACTIVE"


def test_check_api_when_intent_over_limit_then_verdict_and_nothing_placed(book, api_for, trader, make_limit):
    from orders_app.models import Order
    from risk_app.models import RiskCheck

    pf = book["portfolio"]
    make_limit(K.MAX_ORDER_NOTIONAL, 100000, name="Max notional")
    body = {"portfolio": pf.pk, "symbol": "AAPL", "side": "BUY", "quantity": "2000"}
    r = api_for(trader).post("/api/v1/risk/check/", body, format="json")
    assert r.status_code == 200
    assert r.json()["passed"] is False
    assert r.json()["reasons"] == ["Order notional USD 200,000 exceeds the USD 100,000 limit 'Max notional'"]
    assert not Order.objects.exists() and not RiskCheck.objects.exists()
    assert api_for(trader).post("/api/v1/risk/check/", {**body, "quantity": "-1"}, format="json").status_code == 400


def test_exposure_api_when_positions_then_var_and_exposure(book, api_for, risk_officer):
    from portfolio_app.models import Position

    pf = book["portfolio"]
    Position.objects.create(portfolio=pf, instrument=book["AAPL"], quantity=D(1000), avg_cost=D(90))
    r = api_for(risk_officer).get(f"/api/v1/risk/exposure/?portfolio={pf.pk}")
    assert r.status_code == 200
    rep = r.json()["report"]
    assert rep["gross"] == 100000.0 and rep["nav"] == 1100000.0
    assert rep["var_hist_95"] > 0 and rep["cvar_hist_99"] >= rep["var_hist_99"] and "var_param_95" in rep


def test_exposure_api_when_trader_not_owner_then_404(book, api_for, make_user):
    from desk import roles

    other = make_user("t9", roles.TRADER)
    assert api_for(other).get(f"/api/v1/risk/exposure/?portfolio={book['portfolio'].pk}").status_code == 404
