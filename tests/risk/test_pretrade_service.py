"""pre_trade_check through the database: limits as rows, the book from positions and open orders."""

from __future__ import annotations

from decimal import Decimal as D

from risk_app import checks as K
from risk_app.models import RiskCheck

from .conftest import check, intent, open_order


def test_pre_trade_check_when_no_limits_then_passes(book):
    pf = book["portfolio"]
    [v] = check(pf, intent(pf, "AAPL", 10))
    assert v.passed and v.breaches == ()


def test_pre_trade_check_when_order_notional_over_then_denied_with_reason(book, make_limit):
    pf = book["portfolio"]
    make_limit(K.MAX_ORDER_NOTIONAL, 100000, name="Max order notional (Risk Book)")
    [ok] = check(pf, intent(pf, "AAPL", 1000))  # 1,000 x 100 = 100,000: at the limit
    [bad] = check(pf, intent(pf, "AAPL", 1001))
    assert ok.passed
    assert not bad.passed
    assert bad.reasons == ["Order notional USD 100,100 exceeds the USD 100,000 limit 'Max order notional (Risk Book)'"]


def test_pre_trade_check_when_open_orders_then_they_count_as_filled(book, make_limit):
    pf = book["portfolio"]
    make_limit(K.MAX_POSITION_NOTIONAL, 100000, scope="instrument", scope_key="AAPL")
    open_order(pf, book["AAPL"], 600)
    assert check(pf, intent(pf, "AAPL", 400))[0].passed
    assert not check(pf, intent(pf, "AAPL", 401))[0].passed


def test_pre_trade_check_when_order_named_then_not_counted_against_itself_and_recorded(book, make_limit):
    from orders_app import services as orders

    pf = book["portfolio"]
    make_limit(K.MAX_POSITION_NOTIONAL, 100000, scope="instrument", scope_key="AAPL")
    order, _ = orders.order_create(client_order_id="self-1", portfolio_id=pf.pk, instrument_id=book["AAPL"].pk, side="BUY", quantity=D(1000))
    [v] = check(pf, intent(pf, "AAPL", 1000, client_order_id="self-1"))
    assert v.passed
    rc = RiskCheck.objects.get(order=order)
    assert rc.passed and rc.symbol == "AAPL" and rc.portfolio_id == pf.pk


def test_pre_trade_check_when_limit_tightened_then_next_check_sees_it(book, make_limit, risk_officer):
    from risk_app import services

    pf = book["portfolio"]
    lim = make_limit(K.MAX_ORDER_QTY, 100)
    assert check(pf, intent(pf, "AAPL", 80))[0].passed
    services.limit_update(limit_id=lim.pk, actor=risk_officer, reason="tighter", threshold="50")
    assert not check(pf, intent(pf, "AAPL", 80))[0].passed


def test_pre_trade_check_when_warn_limit_breached_then_passes_and_raises_one_alert(book, make_limit):
    from risk_app.models import Alert

    pf = book["portfolio"]
    make_limit(K.MAX_CONCENTRATION, "0.05", action="warn", name="Concentration warning")
    v1 = check(pf, intent(pf, "AAPL", 600))[0]
    v2 = check(pf, intent(pf, "AAPL", 700))[0]
    assert v1.passed and v2.passed and v1.warnings
    alert = Alert.objects.get(status="active")
    assert alert.count == 2 and alert.severity == "warning" and "Concentration warning" in alert.message


def test_pre_trade_check_when_var_limit_then_uses_returns_from_closes(book, make_limit):
    pf = book["portfolio"]
    make_limit(K.MAX_VAR_95, 1, name="Tiny VaR")
    [v] = check(pf, intent(pf, "AAPL", 100))
    assert not v.passed and "1-day 95% VaR" in v.reasons[0]


def test_pre_trade_check_when_daily_loss_against_last_nav_snapshot_then_only_reducing_passes(book, make_limit):
    from datetime import date

    from portfolio_app.models import NavSnapshot, Position

    pf = book["portfolio"]
    Position.objects.create(portfolio=pf, instrument=book["AAPL"], quantity=D(100), avg_cost=D(100))
    NavSnapshot.objects.create(portfolio=pf, session=date(2022, 2, 28), nav=D("1100000.00"), cash=D("1090000.00"))
    make_limit(K.MAX_DAILY_LOSS, 50000)  # NAV now 1,010,000: loss 90,000 since the last close
    assert not check(pf, intent(pf, "AAPL", 10))[0].passed
    assert check(pf, intent(pf, "AAPL", 10, side="SELL"))[0].passed


def test_pre_trade_check_when_several_intents_then_checked_as_one_proposal(book, make_limit):
    pf = book["portfolio"]
    make_limit(K.MAX_CONCENTRATION, "0.05")
    vs = check(pf, intent(pf, "AAPL", 300), intent(pf, "AAPL", 300))
    assert [v.passed for v in vs] == [False, False]
    assert check(pf, intent(pf, "AAPL", 300))[0].passed
