"""The kill switch: immediate going stricter, halting cancels and denies, re-arming needs two officers."""

from __future__ import annotations

import pytest

from orders_app.models import Order
from risk_app import services
from risk_app.models import TradingStateChange, TradingStateRearm
from risk_app.selectors import desk_trading_state

from .conftest import check, intent, open_order


def test_trading_state_set_when_halted_then_open_orders_cancelled_and_new_denied(book, risk_officer, monkeypatch):
    from orders_app import dispatch
    from orders_app.tasks import control_orders_cancel

    queued = []
    monkeypatch.setattr(dispatch, "enqueue_on_commit", lambda name, args, **kw: queued.append((name, args)))
    pf = book["portfolio"]
    order = open_order(pf, book["AAPL"], 10)
    res = services.trading_state_set(scope=f"portfolio:{pf.pk}", state="HALTED", actor=risk_officer, reason="venue outage")
    assert res.applied
    # The cancels go to the control queue, one task per portfolio; its worker runs them.
    assert queued == [("orders_app.tasks.control_orders_cancel", (pf.pk, risk_officer.pk, "Trading HALTED: venue outage"))]
    control_orders_cancel(*queued[0][1])
    assert Order.objects.get(pk=order.pk).status == "CANCELED"
    [v] = check(pf, intent(pf, "AAPL", 1))
    assert not v.passed and "HALTED" in v.reasons[0]


def test_trading_state_set_when_desk_reducing_then_only_reducing_orders_pass(book, risk_officer):
    from decimal import Decimal as D

    from portfolio_app.models import Position

    pf = book["portfolio"]
    Position.objects.create(portfolio=pf, instrument=book["AAPL"], quantity=D(100), avg_cost=D(100))
    services.trading_state_set(scope="desk", state="REDUCING", actor=risk_officer, reason="end of quarter")
    assert desk_trading_state() == "REDUCING"
    assert check(pf, intent(pf, "AAPL", 50, side="SELL"))[0].passed
    assert not check(pf, intent(pf, "AAPL", 50))[0].passed


def test_trading_state_rearm_when_same_officer_confirms_then_refused_and_still_halted(db, risk_officer):
    services.trading_state_set(scope="desk", state="HALTED", actor=risk_officer, reason="incident")
    res = services.trading_state_set(scope="desk", state="ACTIVE", actor=risk_officer, reason="fixed")
    assert not res.applied and res.rearm.status == "pending"
    with pytest.raises(services.RiskPermissionDenied):
        services.trading_state_rearm_confirm(rearm_id=res.rearm.pk, actor=risk_officer)
    assert desk_trading_state() == "HALTED"


def test_trading_state_rearm_when_second_officer_confirms_then_active_and_audited(db, risk_officer, risk_officer2):
    services.trading_state_set(scope="desk", state="HALTED", actor=risk_officer, reason="incident")
    rearm = services.trading_state_set(scope="desk", state="ACTIVE", actor=risk_officer, reason="fixed").rearm
    services.trading_state_rearm_confirm(rearm_id=rearm.pk, actor=risk_officer2)
    assert desk_trading_state() == "ACTIVE"
    last = TradingStateChange.objects.first()
    assert (last.from_state, last.to_state, last.actor.username, last.confirmed_by.username) == ("HALTED", "ACTIVE", "r1", "r2")
    assert TradingStateRearm.objects.get(pk=rearm.pk).status == "confirmed"


def test_trading_state_set_when_trader_then_refused_and_unchanged(db, trader):
    with pytest.raises(services.RiskPermissionDenied):
        services.trading_state_set(scope="desk", state="HALTED", actor=trader, reason="x")
    assert desk_trading_state() == "ACTIVE" and not TradingStateChange.objects.exists()


def test_trading_state_set_when_changed_then_pushed_after_commit(db, risk_officer, django_capture_on_commit_callbacks, monkeypatch):
    from desk import events

    sent = []
    monkeypatch.setattr(events, "send_now", lambda t, p, g: sent.append((t, p, g)))
    with django_capture_on_commit_callbacks(execute=True):
        services.trading_state_set(scope="desk", state="REDUCING", actor=risk_officer, reason="r")
    assert [(t, p["scope"], p["state"]) for t, p, _ in sent] == [("risk.state_changed", "desk", "REDUCING")]
    assert "desk" in sent[0][2]
