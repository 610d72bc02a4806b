"""Buying power through the order services on the real database: a cash account buys
only with cash its open buys have not reserved, a long-only book sells only what it holds, a margin
account keeps its initial margin on gross exposure; reservations are held on submit and released
on fill, cancel and reject, and the portfolio page shows them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.orders.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

COLLAR = Decimal("0.05")  # the demo's desk-wide price collar (5%): what a market order reserves above its reference


def _book_of(book, *, cash, long_short=False, **fields):
    """A fresh portfolio of the demo's trader (the demo's portfolio-scoped limits do not apply to it)."""
    from portfolio_app.models import Portfolio

    _, trader, _ = book
    pf = Portfolio.objects.create(name=f"BP {cash} {long_short} {fields}", cash=Decimal(cash), long_short=long_short, **fields)
    pf.traders.add(trader)
    return pf


def _place(book, pf, symbol, qty, side="BUY", **kw):
    from orders_app.services import order_place

    return order_place(user=book[1], portfolio_id=pf.pk, symbol=symbol, side=side, quantity=Decimal(qty), **kw)


def _mark(book, symbol) -> Decimal:
    from market_app.marks import market_state, session_at, session_market

    now = book[2].market_now()
    return market_state(session_market(session_at(now), [symbol]), symbol, now).mark.quantize(Decimal("0.000001"))


def _max_fee(notional: Decimal) -> Decimal:
    """The dearest fee any enabled venue charges on ``notional``: taker bps with its minimum, to the cent."""
    from desk.money import cash
    from orders_app.models import Venue

    return max(cash(max(notional * v.taker_fee_bps / Decimal(10_000), v.min_fee)) for v in Venue.objects.filter(enabled=True))


def _market_reservation(arrival: Decimal, qty: int) -> Decimal:
    from desk.money import cash, price

    notional = cash(qty * price(arrival * (1 + COLLAR)))
    return notional + _max_fee(notional)


def _breach(order, kind):
    from risk_app.models import RiskCheck

    rc = RiskCheck.objects.filter(order=order).latest("id")
    return next(b for b in rc.breaches if b["kind"] == kind)


def test_order_place_when_cash_account_buys_more_than_its_cash_then_denied_with_the_figures(book, enqueued):
    pf = _book_of(book, cash="9200000.00")
    qty = int(Decimal("10100000") / _mark(book, "AAPL"))  # the defect: 10.1M of buys on 9.2M of cash

    order = _place(book, pf, "AAPL", qty)

    assert order.status == "DENIED" and enqueued == []
    assert "Buying power" in order.reason and "9,200,000.00" in order.reason, order.reason
    b = _breach(order, "buying_power")
    assert b["threshold"] == 9_200_000.0 and b["value"] > 10_100_000.0 and b["action"] == "block"
    pf.refresh_from_db()
    assert pf.cash == Decimal("9200000.00")


def test_order_submit_when_market_buy_then_reserves_its_collar_price_plus_the_maximum_fee(book, enqueued):
    pf = _book_of(book, cash="1000000.00")

    order = _place(book, pf, "AAPL", 2000)

    assert order.status == "SUBMITTED"
    order.refresh_from_db()
    assert order.reserved_cash == _market_reservation(order.arrival_px, 2000)


def test_order_submit_when_limit_buy_then_reserves_its_limit_price_plus_the_maximum_fee(book, enqueued):
    from desk.money import cash

    pf = _book_of(book, cash="1000000.00")
    limit = (_mark(book, "AAPL") * Decimal("0.99")).quantize(Decimal("0.01"))

    order = _place(book, pf, "AAPL", 1000, order_type="LIMIT", limit_price=limit)

    order.refresh_from_db()
    assert order.status == "SUBMITTED" and order.reserved_cash == cash(1000 * limit) + _max_fee(cash(1000 * limit))


def test_order_place_when_two_open_buys_together_exceed_cash_then_the_second_denied(book, enqueued):
    pf = _book_of(book, cash="1000000.00")
    mark = _mark(book, "AAPL")
    first = _place(book, pf, "AAPL", int(Decimal("600000") / mark))
    second = _place(book, pf, "MSFT", int(Decimal("400000") / _mark(book, "MSFT")))  # alone it would fit

    assert first.status == "SUBMITTED" and second.status == "DENIED"
    first.refresh_from_db()
    assert f"{first.reserved_cash:,.2f}" in second.reason, second.reason  # what the open buy holds back
    assert _breach(second, "buying_power")["threshold"] == 1_000_000.0


def test_order_fill_when_the_buy_fills_then_its_reservation_is_released_and_cash_never_negative(book, enqueued):
    from portfolio_app.models import Portfolio

    pf = _book_of(book, cash="1000000.00")
    order = _place(book, pf, "AAPL", 5000)
    order.refresh_from_db()
    assert order.reserved_cash > 0
    drain(enqueued)
    book[2].step(1)
    drain(enqueued)

    order.refresh_from_db()
    assert order.status == "FILLED" and order.reserved_cash == 0
    assert Portfolio.objects.get(pk=pf.pk).cash >= 0
    again = _place(book, pf, "KO", int(Decimal("100000") / _mark(book, "KO")))
    assert again.status == "SUBMITTED", again.reason


def test_order_fill_when_partly_filled_then_the_reservation_shrinks_pro_rata(book, enqueued):
    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app.services import fill_apply

    pf = _book_of(book, cash="1000000.00")
    order = _place(book, pf, "AAPL", 1000)
    order.refresh_from_db()
    held = order.reserved_cash
    report = FillReport(trade_id="bp-part-1", client_order_id=order.client_order_id, venue="LIT-A", symbol="AAPL", side=Side.BUY,
                        last_qty=Decimal(400), last_px=order.arrival_px, commission=Decimal("1.00"),
                        liquidity_side=LiquiditySide.TAKER, ts_event=book[2].now())
    fill_apply(order_id=order.pk, report=report)

    order.refresh_from_db()
    assert order.status == "PARTIALLY_FILLED"
    assert order.reserved_cash == (held * Decimal(600) / Decimal(1000)).quantize(Decimal("0.01"))


def test_order_cancel_when_cancelled_then_its_reservation_is_released_and_frees_cash(book, enqueued):
    from orders_app.services import order_cancel

    pf = _book_of(book, cash="1000000.00")
    qty = int(Decimal("800000") / _mark(book, "AAPL"))
    first = _place(book, pf, "AAPL", qty)
    assert _place(book, pf, "MSFT", int(Decimal("300000") / _mark(book, "MSFT"))).status == "DENIED"

    first = order_cancel(order_id=first.pk, actor=book[1])

    assert first.status == "CANCELED" and first.reserved_cash == 0
    assert _place(book, pf, "MSFT", int(Decimal("300000") / _mark(book, "MSFT")) + 1).status == "SUBMITTED"


def test_order_reject_when_the_venue_rejects_then_its_reservation_is_released(book, enqueued):
    from orders_app import states
    from orders_app.services import order_apply_event

    pf = _book_of(book, cash="1000000.00")
    order = _place(book, pf, "AAPL", 5000)

    order = order_apply_event(order_id=order.pk, event=states.REJECTED, reason="venue closed")

    assert order.status == "REJECTED" and order.reserved_cash == 0
    assert _place(book, pf, "AAPL", 5001).status == "SUBMITTED"


def test_reservations_when_orders_come_and_go_then_the_portfolio_total_is_the_sum_of_its_open_orders(book, enqueued):
    from desk import ports
    from orders_app.models import Order
    from orders_app.services import order_cancel

    pf = _book_of(book, cash="1000000.00")
    a = _place(book, pf, "AAPL", 1000)
    b = _place(book, pf, "KO", 2000)
    order_cancel(order_id=a.pk, actor=book[1])
    b.refresh_from_db()

    assert ports.reservations().reserved(portfolio_id=pf.pk) == b.reserved_cash > 0
    assert sum(o.reserved_cash for o in Order.objects.filter(portfolio=pf)) == b.reserved_cash


def test_order_place_when_long_only_sells_more_than_held_less_open_sells_then_denied(book, enqueued):
    pf = _book_of(book, cash="1000000.00")
    _place(book, pf, "KO", 1000)
    drain(enqueued)
    book[2].step(1)
    drain(enqueued)
    open_sell = _place(book, pf, "KO", 600, side="SELL")

    over = _place(book, pf, "KO", 401, side="SELL")
    fits = _place(book, pf, "KO", 400, side="SELL")

    assert open_sell.status == "SUBMITTED" and fits.status == "SUBMITTED"
    assert over.status == "DENIED" and "KO" in over.reason and "1,000 held" in over.reason, over.reason
    b = _breach(over, "sellable_position")
    assert (b["value"], b["threshold"]) == (401.0, 400.0)


def test_order_place_when_long_only_sells_what_it_does_not_hold_then_denied(book, enqueued):
    pf = _book_of(book, cash="1000000.00")

    order = _place(book, pf, "XOM", 100, side="SELL")

    assert order.status == "DENIED" and "long-only" in order.reason, order.reason


def test_order_place_when_margin_account_then_initial_margin_on_gross_exposure_decides(book, enqueued):
    # Initial margin 90% of gross: 1,000,000 of equity carries about 1.11M of gross exposure (the desk's
    # leverage limit of 1.2x would allow more, so the margin rule is what refuses).
    pf = _book_of(book, cash="1000000.00", long_short=True, initial_margin=Decimal("0.9"))
    big = _place(book, pf, "AAPL", int(Decimal("1000000") / _mark(book, "AAPL")))
    big.refresh_from_db()
    assert big.status == "SUBMITTED", big.reason

    short = _place(book, pf, "XOM", int(Decimal("200000") / _mark(book, "XOM")), side="SELL")

    assert short.status == "DENIED" and "initial margin" in short.reason.lower(), short.reason
    b = _breach(short, "buying_power")
    assert b["threshold"] == 1_000_000.0 and b["value"] > 1_000_000.0


def test_order_place_when_margin_account_short_within_margin_then_passes(book, enqueued):
    pf = _book_of(book, cash="1000000.00", long_short=True)  # Reg T: 50% of gross

    short = _place(book, pf, "XOM", int(Decimal("900000") / _mark(book, "XOM")), side="SELL")

    short.refresh_from_db()
    assert short.status == "SUBMITTED", short.reason
    assert short.reserved_cash > Decimal("450000")  # half the short's notional at its collar price, plus the fee


def test_order_amend_when_it_raises_the_reservation_above_buying_power_then_denied_and_unchanged(book, enqueued, api_for):
    from orders_app.models import OrderEvent

    pf = _book_of(book, cash="1000000.00")
    limit = (_mark(book, "AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
    order = _place(book, pf, "AAPL", 3000, order_type="LIMIT", limit_price=limit, algo="TWAP", algo_params={"slices": 4})
    drain(enqueued)
    order.refresh_from_db()
    before = (order.quantity, order.limit_price, order.status, order.reserved_cash)

    r = api_for(book[1]).post(f"/api/v1/orders/{order.pk}/amend/", {"quantity": "9000"}, format="json")

    assert r.status_code == 409 and r.json()["code"] == "denied" and "Buying power" in r.json()["message"], r.json()
    order.refresh_from_db()
    assert (order.quantity, order.limit_price, order.status, order.reserved_cash) == before
    assert OrderEvent.objects.filter(order=order, event="MODIFY_REJECTED").exists()


def test_order_amend_when_it_passes_then_the_reservation_follows_the_amended_order(book, enqueued, api_for):
    from desk.money import cash

    pf = _book_of(book, cash="1000000.00")
    limit = (_mark(book, "AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
    order = _place(book, pf, "AAPL", 3000, order_type="LIMIT", limit_price=limit, algo="TWAP", algo_params={"slices": 4})
    drain(enqueued)

    r = api_for(book[1]).post(f"/api/v1/orders/{order.pk}/amend/", {"quantity": "4000"}, format="json")

    assert r.status_code == 200, r.json()
    order.refresh_from_db()
    leaves = order.quantity - order.filled_qty
    assert order.reserved_cash == cash(leaves * limit) + _max_fee(cash(leaves * limit))


def test_portfolio_page_when_orders_are_open_then_shows_reserved_cash_and_buying_power(book, enqueued, client):
    pf = _book_of(book, cash="1000000.00")
    order = _place(book, pf, "AAPL", 2000)
    order.refresh_from_db()
    client.force_login(book[1])

    page = client.get(f"/portfolio/?id={pf.pk}")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Reserved" in html and f"{order.reserved_cash:,.2f}" in html
    assert "Buying power" in html and f"{Decimal('1000000.00') - order.reserved_cash:,.2f}" in html
    assert "cash account" in html


def test_order_submit_when_a_proposals_sells_fund_its_buys_then_its_buy_passes_but_the_same_manual_buy_is_denied(book, enqueued):
    from market_app.models import Instrument
    from orders_app.services import order_create, order_submit
    from portfolio_app.models import Portfolio, RebalanceProposal
    from portfolio_app.services import proposal_transition

    pf = _book_of(book, cash="300000.00")
    _place(book, pf, "KO", 4000)  # about 230,000 of KO: the cash left is about 70,000
    drain(enqueued)
    book[2].step(1)
    drain(enqueued)
    pf.refresh_from_db()
    ko, aapl = Instrument.objects.get(symbol="KO"), Instrument.objects.get(symbol="AAPL")
    qty = int(Decimal("150000") / _mark(book, "AAPL"))  # more than the cash, less than the cash and the KO sale
    p = RebalanceProposal.objects.create(portfolio=pf)
    for to in ("PENDING_APPROVAL", "APPROVED"):
        proposal_transition(proposal_id=p.pk, to=to, actor=book[1])

    orders = [order_create(client_order_id=f"P{p.pk}-{i.symbol}", portfolio_id=pf.pk, proposal_id=p.pk, instrument_id=i.pk,
                           side=side, quantity=Decimal(q))[0] for i, side, q in ((ko, "SELL", 4000), (aapl, "BUY", qty))]
    sell, buy = (order_submit(order_id=o.pk, actor=book[1]) for o in orders)
    manual = _place(book, pf, "AAPL", qty + 1)

    assert sell.status == "SUBMITTED" and buy.status == "SUBMITTED", buy.reason
    assert manual.status == "DENIED" and "cash account" in manual.reason
    assert Portfolio.objects.get(pk=pf.pk).cash < Decimal("150000")
