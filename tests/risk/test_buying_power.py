"""The account checks through pre_trade_check: the margin rule, the reservation price,
and a proposal's sells paying for its buys. The "Risk Book" is long/short (a margin account, Reg T
50% by default), cash 1,000,000, AAPL / MSFT / XOM at 100 / 200 / 50; no venues, so no fees; with no
collar limit a market order is reserved DESK_RESERVE_COLLAR_PCT (5%) above its reference."""

from __future__ import annotations

from decimal import Decimal as D

from risk_app import checks as K

from .conftest import check, intent


def _cash_account(pf, cash="1000000.00"):
    from portfolio_app.models import Portfolio

    Portfolio.objects.filter(pk=pf.pk).update(long_short=False, cash=D(cash))
    return pf


def _hold(pf, inst, qty, avg="100"):
    from portfolio_app.models import Position

    return Position.objects.create(portfolio=pf, instrument=inst, quantity=D(qty), avg_cost=D(avg))


def _breach(verdict, kind):
    return next(b for b in verdict.breaches if b.kind == kind)


def test_pre_trade_check_when_margin_account_then_initial_margin_on_gross_decides_at_the_boundary(book):
    pf = book["portfolio"]
    # 50% of 19,047 x 105 = 999,967.50 fits 1,000,000 of equity; one more share does not.
    [ok] = check(pf, intent(pf, "AAPL", 19047))
    [bad] = check(pf, intent(pf, "AAPL", 19048))

    assert ok.passed and ok.reservation == D("999967.50")
    assert not bad.passed
    b = _breach(bad, K.BUYING_POWER)
    assert (b.value, b.threshold, b.action) == (1_000_020.0, 1_000_000.0, "block")
    assert "initial margin of USD 1,000,020.00 (50% of the added exposure at 105.000000)" in b.reason
    assert "(margin account)" in b.reason


def test_pre_trade_check_when_initial_margin_configured_then_the_portfolio_rule_applies(book):
    from portfolio_app.models import Portfolio

    pf = book["portfolio"]
    Portfolio.objects.filter(pk=pf.pk).update(initial_margin=D("1"))
    assert not check(pf, intent(pf, "AAPL", 9600))[0].passed  # 100% of 9,600 x 105 > 1,000,000
    assert check(pf, intent(pf, "AAPL", 9500))[0].passed


def test_pre_trade_check_when_margin_account_is_over_its_margin_then_a_reducing_order_still_passes(book):
    from portfolio_app.models import Portfolio

    pf = book["portfolio"]
    Portfolio.objects.filter(pk=pf.pk).update(cash=D("-2000000.00"))
    _hold(pf, book["AAPL"], 25000)  # 2.5M long on 2M borrowed: equity 0.5M, under 50% of gross

    [reduce] = check(pf, intent(pf, "AAPL", 5000, side="SELL"))
    [add] = check(pf, intent(pf, "MSFT", 10, side="SELL"))

    assert reduce.passed and reduce.reservation == D(0)
    assert not add.passed and _breach(add, K.BUYING_POWER)


def test_pre_trade_check_when_a_collar_limit_applies_then_a_market_order_is_reserved_at_it(book, make_limit):
    pf = _cash_account(book["portfolio"])
    make_limit(K.PRICE_COLLAR_PCT, 2, name="Price collar")
    make_limit(K.PRICE_COLLAR_PCT, 1, name="Collar warning", action="warn")  # a warning does not bound a fill

    [v] = check(pf, intent(pf, "AAPL", 1000))
    [limit] = check(pf, intent(pf, "AAPL", 1000, order_type="LIMIT", limit_price=D("99.5")))

    assert v.reservation == D("102000.00")
    assert limit.reservation == D("99500.00")


def test_pre_trade_check_when_cash_account_sells_more_than_held_then_denied(book):
    pf = _cash_account(book["portfolio"])
    _hold(pf, book["XOM"], 300, avg="50")

    [ok] = check(pf, intent(pf, "XOM", 300, side="SELL"))
    [bad] = check(pf, intent(pf, "XOM", 301, side="SELL"))

    assert ok.passed and ok.reservation == D(0)
    b = _breach(bad, K.SELLABLE_POSITION)
    assert (b.value, b.threshold) == (301.0, 300.0)
    assert b.reason == ("Sellable position: SELL 301 XOM exceeds the 300 a long-only portfolio may sell "
                        "(300 held less 0 in open sells)")


def test_pre_trade_check_proposal_when_its_sells_pay_for_its_buys_then_the_buys_pass_but_alone_denied(book):
    from django.db import transaction

    from portfolio_app.models import Portfolio
    from risk_app.services import pre_trade_check_proposal

    pf = _cash_account(book["portfolio"], cash="10000.00")
    _hold(pf, book["XOM"], 4000, avg="50")  # 200,000 at the mark
    sell, buy = intent(pf, "XOM", 4000, side="SELL"), intent(pf, "AAPL", 1700)  # 4000 x 47.50 >= 1700 x 105 - 10,000

    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=pf.pk)
        basket = pre_trade_check_proposal(portfolio_id=pf.pk, intents=[sell, buy])
    [alone] = check(pf, buy)

    assert basket.passed, [b.reason for b in basket.breaches]
    assert basket.verdicts[1].reservation == D("178500.00")
    assert not alone.passed and "against cash of USD 10,000.00 (cash account)" in alone.reasons[0]


def test_pre_trade_check_proposal_when_buys_together_exceed_cash_then_the_later_one_denied(book):
    from django.db import transaction

    from portfolio_app.models import Portfolio
    from risk_app.services import pre_trade_check_proposal

    pf = _cash_account(book["portfolio"])
    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=pf.pk)
        v = pre_trade_check_proposal(portfolio_id=pf.pk, intents=[intent(pf, "AAPL", 5000), intent(pf, "MSFT", 2500)])

    first, second = v.verdicts
    assert first.passed and not second.passed
    assert "with USD 525,000.00 held for open orders" in _breach(second, K.BUYING_POWER).reason


def test_check_api_when_a_buy_exceeds_buying_power_then_the_breach_has_its_figures_and_a_pass_its_reservation(book, trader, api_for):
    pf = _cash_account(book["portfolio"])
    body = {"portfolio": pf.pk, "symbol": "AAPL", "side": "BUY"}

    ok = api_for(trader).post("/api/v1/risk/check/", {**body, "quantity": "9000"}, format="json").json()
    bad = api_for(trader).post("/api/v1/risk/check/", {**body, "quantity": "9600"}, format="json").json()

    assert ok["passed"] and ok["reservation"] == "945000.00"
    [b] = bad["breaches"]
    assert (bad["passed"], b["kind"], b["value"], b["threshold"]) == (False, "buying_power", 1_008_000.0, 1_000_000.0)
