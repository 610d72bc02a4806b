"""Instruments on the management pages: an admin's lot size and restricted flag reach the order path at once
(an order in a restricted instrument is DENIED by the pre-trade gate; quantities must be whole lots), bad
input is refused naming the field with nothing saved, and every change is kept with who, when, before, after."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db

MARKET_T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)  # a session, half an hour after the open


@pytest.fixture
def desk_book(demo_small, monkeypatch):
    """The demo book on a stepped clock, nothing sent to a broker."""
    from django.contrib.auth import get_user_model

    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from ops_app import demo
    from orders_app import dispatch
    from portfolio_app.models import Portfolio

    monkeypatch.setattr(dispatch, "route_after_commit", lambda pid: None)
    set_clock(SteppedClock(MARKET_T0))
    users = get_user_model().objects
    yield Portfolio.objects.get(name=demo.DEMO_PORTFOLIO), users.get(username="trader"), users.get(username="admin")
    set_clock(None)


def _client(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


def _edit(admin, instrument, **changes):
    data = {"name": instrument.name, "sector": instrument.sector, "lot_size": str(instrument.lot_size),
            "tick_size": str(instrument.tick_size), "adv": str(instrument.adv), "reason": "compliance request"}
    if instrument.tradable:
        data["tradable"] = "on"
    if instrument.restricted:
        data["restricted"] = "on"
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    return _client(admin).post(f"/manage/instruments/{instrument.pk}/", data)


def _order(book, symbol, qty):
    from orders_app.submission import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side="BUY", quantity=Decimal(qty))


def test_instrument_update_when_restricted_then_the_gate_denies_an_order_in_it_with_the_reason(desk_book):
    from market_app.models import Instrument
    from risk_app.services.pretrade import engine_get

    symbol = "KO"
    engine_get()  # this process's engine is cached before the change: the flag must still reach it
    assert _order(desk_book, symbol, 10).status != "DENIED"
    ko = Instrument.objects.get(symbol=symbol)
    r = _edit(desk_book[2], ko, restricted="on")
    assert r.status_code == 302, r.content.decode()[:3000]
    order = _order(desk_book, symbol, 20)  # quantities differ: the desk's duplicate window would deny a repeat
    assert order.status == "DENIED"
    reasons = [b["reason"] for check in order.risk_checks.all() for b in check.breaches]
    assert f"{symbol} is on the restricted list 'Instrument restricted list'" in reasons
    assert _order(desk_book, "MSFT", 10).status != "DENIED"  # only the restricted instrument

    r = _edit(desk_book[2], Instrument.objects.get(symbol=symbol), restricted=None, reason="cleared by compliance")
    assert r.status_code == 302
    assert _order(desk_book, symbol, 30).status != "DENIED"


def test_instrument_update_when_the_lot_size_changes_then_orders_must_be_whole_lots_of_it(desk_book):
    from market_app.models import Instrument
    from orders_app.submission import OrderValidationError

    ko = Instrument.objects.get(symbol="KO")
    assert _edit(desk_book[2], ko, lot_size="100").status_code == 302
    with pytest.raises(OrderValidationError) as refused:
        _order(desk_book, "KO", 150)
    assert "lots of 100" in str(refused.value.errors["quantity"])
    assert _order(desk_book, "KO", 200).status != "DENIED"


def test_instrument_update_when_input_is_bad_then_400_naming_each_field_and_nothing_saved(desk_admin):
    from market_app.models import Instrument

    ko = Instrument.objects.create(symbol="KO", name="Coca-Cola", lot_size=Decimal("1"), adv=Decimal("1000000"))
    history = ko.history.count()
    r = _edit(desk_admin, ko, lot_size="0", tick_size="-1", adv="-5", restricted="on", reason="")
    body = r.content.decode()
    assert r.status_code == 400
    for field in ("lot_size", "tick_size", "adv", "reason"):
        assert f'data-field="{field}"' in body, field
    ko.refresh_from_db()
    assert (ko.lot_size, ko.adv, ko.restricted, ko.history.count()) == (Decimal("1"), Decimal("1000000"), False, history)


def test_instrument_update_when_saved_then_its_history_has_who_when_before_after_and_why(desk_admin):
    from market_app.models import Instrument
    from ops_app.manage.selectors import audit_entries

    ko = Instrument.objects.create(symbol="KO", name="Coca-Cola", lot_size=Decimal("1"), adv=Decimal("1000000"))
    assert _edit(desk_admin, ko, lot_size="100", adv="15000000", restricted="on").status_code == 302
    [entry] = [e for e in audit_entries(kind="instrument", object_id=ko.pk) if e.action == "changed"]
    assert (entry.who, entry.why) == (desk_admin.username, "compliance request")
    assert dict((f, (o, n)) for f, o, n in entry.changes) == {
        "lot_size": ("1", "100"), "adv": ("1000000", "15000000"), "restricted": ("no", "yes")}


def test_instrument_update_when_a_held_instrument_is_restricted_then_the_risk_monitor_raises_an_alert(desk_book):
    from market_app.models import Instrument
    from portfolio_app.models import Position
    from risk_app.models import Alert
    from risk_app.services import risk_monitor_recompute

    portfolio, _, admin = desk_book
    ko = Instrument.objects.get(symbol="KO")
    Position.objects.create(portfolio=portfolio, instrument=ko, quantity=Decimal("100"), avg_cost=Decimal("60"))
    risk_monitor_recompute(portfolio_id=portfolio.pk)
    assert not Alert.objects.filter(status=Alert.Status.ACTIVE, message__contains="restricted").exists()
    assert _edit(admin, ko, restricted="on").status_code == 302
    risk_monitor_recompute(portfolio_id=portfolio.pk)
    [alert] = Alert.objects.filter(status=Alert.Status.ACTIVE, message__contains="holding a restricted instrument")
    assert "'Instrument restricted list'" in alert.message and alert.portfolio_id == portfolio.pk
