"""Portfolios on the management pages: an admin opens one and changes its traders, account type, strategy and
rebalancing policy; bad input is refused naming the field with nothing saved; fills moving cash write no audit row."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from desk import roles

pytestmark = pytest.mark.django_db

GOOD = {"name": "Macro Book", "cash": "2500000.00", "account": "margin", "initial_margin": "0.3", "gross_limit": "1.5",
        "strategy": "hrp", "strategy_params": json.dumps({"lookback_days": 504}), "constraints": json.dumps({}),
        "policy_kind": "drift", "policy_frequency": "monthly", "policy_band_pp": "4", "reason": "new macro mandate"}


def _client(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


def test_portfolio_create_when_admin_opens_one_then_its_traders_account_strategy_and_policy_are_saved(desk_admin, trader):
    from portfolio_app.models import Portfolio

    r = _client(desk_admin).post("/manage/portfolios/new/", {**GOOD, "traders": [trader.pk]})
    assert r.status_code == 302, r.content.decode()[:3000]
    p = Portfolio.objects.get(name="Macro Book")
    assert (p.cash, p.long_short, p.initial_margin, p.gross_limit) == (Decimal("2500000.00"), True, Decimal("0.3"), Decimal("1.5"))
    assert (p.strategy, p.strategy_params, p.rebalance_policy) == ("hrp", {"lookback_days": 504}, {"kind": "drift", "band_pp": 4.0})
    assert list(p.traders.all()) == [trader]
    [row] = p.history.all()
    assert (row.history_type, row.history_user, row.traders_held, row.history_change_reason) == ("+", desk_admin, trader.username, "new macro mandate")


def test_portfolio_update_when_traders_and_account_change_then_one_audit_row_with_before_and_after(desk_admin, portfolio, make_user):
    from ops_app.manage.selectors import audit_entries

    second = make_user("t2", roles.TRADER)
    data = {**GOOD, "name": portfolio.name, "traders": [portfolio.traders.first().pk, second.pk], "account": "cash",
            "policy_kind": "calendar", "policy_frequency": "weekly", "reason": "t2 joins"}
    data.pop("cash")
    r = _client(desk_admin).post(f"/manage/portfolios/{portfolio.pk}/", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    portfolio.refresh_from_db()
    assert set(portfolio.traders.values_list("username", flat=True)) == {"t1", "t2"}
    assert portfolio.rebalance_policy == {"kind": "calendar", "frequency": "weekly"} and portfolio.strategy == "hrp"
    [entry] = [e for e in audit_entries(kind="portfolio", object_id=portfolio.pk) if e.why == "t2 joins"]
    changes = {f: (o, n) for f, o, n in entry.changes}
    assert entry.who == desk_admin.username and entry.why == "t2 joins"
    assert changes["traders_held"] == ("t1", "t1, t2") and changes["strategy"] == ("max_sharpe", "hrp")
    assert "cash" not in changes


def test_portfolio_save_when_input_is_bad_then_400_naming_each_field_and_nothing_saved(desk_admin, portfolio):
    from portfolio_app.models import Portfolio

    before = Portfolio.objects.filter(pk=portfolio.pk).values().get()
    history = portfolio.history.count()
    bad = {**GOOD, "name": portfolio.name, "initial_margin": "1.5", "gross_limit": "0.5", "strategy_params": "[1, 2]",
           "reason": ""}
    bad.pop("cash")
    r = _client(desk_admin).post(f"/manage/portfolios/{portfolio.pk}/", bad)
    body = r.content.decode()
    assert r.status_code == 400
    for field in ("initial_margin", "gross_limit", "strategy_params", "reason"):
        assert f'data-field="{field}"' in body, field
    r = _client(desk_admin).post(f"/manage/portfolios/{portfolio.pk}/", {**bad, "initial_margin": "0.5", "gross_limit": "1",
                                                                           "strategy_params": json.dumps({"risk_model": "astrology"}),
                                                                           "constraints": json.dumps({"weight_bounds": [0.5, 0.1]}),
                                                                           "reason": "try"})
    body = r.content.decode()
    assert r.status_code == 400 and 'data-field="constraints"' in body
    r = _client(desk_admin).post("/manage/portfolios/new/", {**GOOD, "name": portfolio.name, "cash": "-1"})
    assert r.status_code == 400 and 'data-field="name"' in r.content.decode() and 'data-field="cash"' in r.content.decode()
    assert Portfolio.objects.filter(pk=portfolio.pk).values().get() == before and portfolio.history.count() == history
    assert Portfolio.objects.count() == 1


def test_portfolio_save_when_strategy_params_are_unknown_then_400_naming_strategy_params(desk_admin, portfolio):
    data = {**GOOD, "name": portfolio.name, "strategy": "max_sharpe", "strategy_params": json.dumps({"risk_model": "astrology"})}
    data.pop("cash")
    r = _client(desk_admin).post(f"/manage/portfolios/{portfolio.pk}/", data)
    assert r.status_code == 400 and 'data-field="strategy_params"' in r.content.decode()


def test_portfolio_save_when_a_margin_account_with_shorts_becomes_cash_then_400_naming_account(desk_admin, portfolio):
    from market_app.models import Instrument
    from portfolio_app.models import Position

    portfolio.long_short = True
    portfolio.save(update_fields=["long_short"])
    xom = Instrument.objects.create(symbol="XOM")
    Position.objects.create(portfolio=portfolio, instrument=xom, quantity=Decimal("-100"), avg_cost=Decimal("80"))
    data = {**GOOD, "name": portfolio.name, "account": "cash"}
    data.pop("cash")
    r = _client(desk_admin).post(f"/manage/portfolios/{portfolio.pk}/", data)
    assert r.status_code == 400 and 'data-field="account"' in r.content.decode() and "XOM" in r.content.decode()
    portfolio.refresh_from_db()
    assert portfolio.long_short


def test_portfolio_history_when_a_fill_moves_cash_then_no_audit_row(portfolio):
    portfolio.refresh_from_db()
    rows = portfolio.history.count()
    portfolio.cash = portfolio.cash - Decimal("1234.56")
    portfolio.save(update_fields=["cash"])
    portfolio.peak_nav = Decimal("1000000.00")
    portfolio.save(update_fields=["peak_nav"])
    assert portfolio.history.count() == rows
