"""Desk-scope limits measured desk-wide: gross, net, daily loss and order rate summed over the
portfolios a desk limit concerns, through the real order services (``risk_app.desk_book``)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from risk_app import checks as K

_ids = itertools.count(1)


@pytest.fixture
def no_routing(monkeypatch):
    """Submitted orders stay SUBMITTED: routing is not what these tests are about."""
    from orders_app import dispatch

    monkeypatch.setattr(dispatch, "route_after_commit", lambda pid: None)


def desk_portfolio(name: str, cash: str = "10000000.00"):
    from portfolio_app.models import Portfolio

    return Portfolio.objects.create(name=name, cash=D(cash), long_short=True)


def submit(pf, inst, qty, side="BUY"):
    """An order created and submitted through the real services (the gate decides it)."""
    from orders_app.services import order_create
    from orders_app.submission import order_submit

    order, _ = order_create(client_order_id=f"desk-{pf.pk}-{next(_ids)}", portfolio_id=pf.pk, instrument_id=inst.pk,
                            side=side, quantity=D(qty))
    return order_submit(order_id=order.pk)


def desk_row(key="*"):
    from risk_app.models import DeskExposure

    return DeskExposure.objects.get(key=key)


def test_order_submit_when_two_portfolios_jointly_over_desk_gross_then_second_denied_with_desk_wide_figure(
    book, make_limit, no_routing
):
    aapl = book["AAPL"]
    first, second = desk_portfolio("Desk A"), desk_portfolio("Desk B")
    make_limit(K.MAX_GROSS_EXPOSURE, 3_670_000, name="Desk gross")

    a = submit(first, aapl, 21_000)  # 2,100,000: the desk at 2.1M
    b = submit(second, aapl, 21_700)  # 2,170,000 alone fits; the desk would be at 4.27M

    assert a.status == "SUBMITTED"
    assert b.status == "DENIED"
    assert b.reason == "Post-trade gross exposure desk-wide USD 4,270,000 exceeds the USD 3,670,000 limit 'Desk gross'"
    assert desk_row().gross == D("2100000.00")  # the denied order added nothing


def test_order_submit_when_desk_net_over_share_of_desk_nav_then_denied_though_the_portfolio_alone_fits(
    book, make_limit, no_routing
):
    aapl = book["AAPL"]
    # With the fixture's 1M "Risk Book", the desk's NAV is 20M.
    first, second = desk_portfolio("Net A", cash="9500000.00"), desk_portfolio("Net B", cash="9500000.00")
    make_limit(K.MAX_NET_EXPOSURE, "0.30", name="Desk net")

    a = submit(first, aapl, 50_000)  # 5M: 53% of its own NAV, 25% of the desk's
    b = submit(second, aapl, 15_000)  # 1.5M: 16% of its own, the desk at 6.5M = 32.5%

    assert a.status == "SUBMITTED"
    assert b.status == "DENIED"
    assert b.reason == "Post-trade net exposure desk-wide 32.5% of the desk's NAV exceeds the 30% limit 'Desk net'"


def test_order_submit_when_desk_daily_loss_over_across_portfolios_then_only_reducing_orders_pass(
    book, make_limit, no_routing
):
    from portfolio_app.models import NavSnapshot, Position

    aapl = book["AAPL"]
    first, second = desk_portfolio("Loss A"), desk_portfolio("Loss B")
    for pf in (first, second):  # each: NAV 10,000,000 + 100 x 100 = 10,010,000, down 30,000 on the last close
        Position.objects.create(portfolio=pf, instrument=aapl, quantity=D(100), avg_cost=D(100))
        NavSnapshot.objects.create(portfolio=pf, session=date(2022, 2, 28), nav=D("10040000.00"), cash=D("10030000.00"))
    make_limit(K.MAX_DAILY_LOSS, 50_000, name="Desk daily loss")  # each portfolio alone is under it

    buy = submit(first, aapl, 10)
    sell = submit(first, aapl, 10, side="SELL")

    assert buy.status == "DENIED"
    assert buy.reason == ("Today's loss desk-wide USD 60,000 exceeds the USD 50,000 limit 'Desk daily loss'; "
                          "only orders that reduce a position may pass")
    assert sell.status == "SUBMITTED"


def test_order_submit_when_desk_order_rate_over_across_portfolios_then_denied(book, make_limit, no_routing):
    aapl = book["AAPL"]
    books = [desk_portfolio(f"Rate {i}") for i in range(4)]
    make_limit(K.MAX_ORDER_RATE, "0.05", name="Desk order rate", params={"window_s": 60})  # 3 orders a minute

    orders = [submit(pf, aapl, 10) for pf in books]

    assert [o.status for o in orders] == ["SUBMITTED", "SUBMITTED", "SUBMITTED", "DENIED"]
    assert orders[-1].reason == (
        "Order rate desk-wide 0.07 per second (over 60 s) exceeds the 0.05 per second limit 'Desk order rate'"
    )


def test_order_cancel_when_committed_then_desk_room_released(
    book, make_limit, no_routing, django_capture_on_commit_callbacks
):
    from orders_app.submission import order_cancel

    aapl = book["AAPL"]
    first, second = desk_portfolio("Cancel A"), desk_portfolio("Cancel B")
    make_limit(K.MAX_GROSS_EXPOSURE, 1_500_000, name="Desk gross")
    held = submit(first, aapl, 10_000)  # 1M of the 1.5M
    assert submit(second, aapl, 10_000).status == "DENIED"

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=held.pk)

    assert desk_row().gross == D("0.00")
    assert submit(second, aapl, 10_000).status == "SUBMITTED"


def test_order_amend_when_quantity_reduced_then_desk_room_released(
    book, make_limit, no_routing, django_capture_on_commit_callbacks
):
    from orders_app.services import order_apply_event
    from orders_app.submission import order_amend

    aapl = book["AAPL"]
    first = desk_portfolio("Amend A")
    make_limit(K.MAX_GROSS_EXPOSURE, 1_500_000, name="Desk gross")
    order = submit(first, aapl, 10_000)
    order_apply_event(order_id=order.pk, event="ACCEPTED")

    with django_capture_on_commit_callbacks(execute=True):
        order_amend(order_id=order.pk, quantity=D(4_000))

    assert desk_row().gross == D("400000.00")


def test_fill_apply_when_order_fills_at_the_mark_then_desk_gross_unchanged(book, make_limit, no_routing):
    from django.utils import timezone

    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app.services import fill_apply
    from risk_app.desk_book import desk_book_refresh

    aapl = book["AAPL"]
    first = desk_portfolio("Fill A")
    make_limit(K.MAX_GROSS_EXPOSURE, 5_000_000, name="Desk gross")
    order = submit(first, aapl, 10_000)
    before = desk_row().gross

    fill_apply(order_id=order.pk, report=FillReport(
        trade_id="desk-fill-1", client_order_id=order.client_order_id, venue="", symbol="AAPL", side=Side.BUY,
        last_qty=D(4_000), last_px=D(100), commission=D(0), liquidity_side=LiquiditySide.TAKER, ts_event=timezone.now(),
    ))
    desk_book_refresh()

    assert before == desk_row().gross == D("1000000.00")


def test_desk_book_refresh_when_marks_move_then_desk_figures_re_marked(book, make_limit, stepped_clock):
    from market_app.marks import clear_cache
    from market_app.models import PriceBar
    from portfolio_app.models import Position
    from risk_app.desk_book import desk_book_refresh

    aapl = book["AAPL"]
    first, second = desk_portfolio("Mark A"), desk_portfolio("Mark B")
    Position.objects.create(portfolio=first, instrument=aapl, quantity=D(10_000), avg_cost=D(100))
    Position.objects.create(portfolio=second, instrument=aapl, quantity=D(-2_000), avg_cost=D(100))
    make_limit(K.MAX_GROSS_EXPOSURE, 5_000_000, name="Desk gross")
    assert (desk_row().gross, desk_row().net) == (D("1200000.00"), D("800000.00"))

    PriceBar.objects.create(instrument=aapl, date=date(2022, 3, 1), close=D(150))
    stepped_clock.set_market_time(stepped_clock.market_now() + timedelta(days=1))  # before the next open: mark 150
    clear_cache()
    desk_book_refresh()

    row = desk_row()
    assert (row.gross, row.net) == (D("1800000.00"), D("1200000.00"))
    assert row.marked_at is not None


def test_desk_book_refresh_when_book_changed_outside_the_gate_then_rebuilt_from_it(book, make_limit):
    from portfolio_app.models import Position
    from risk_app.desk_book import desk_book_refresh
    from risk_app.models import DeskExposure

    aapl = book["AAPL"]
    first = desk_portfolio("Rebuild A")
    make_limit(K.MAX_GROSS_EXPOSURE, 5_000_000, name="Desk gross")
    DeskExposure.objects.all().delete()  # an empty table (a new deployment) is built by the refresh
    Position.objects.create(portfolio=first, instrument=aapl, quantity=D(3_000), avg_cost=D(100))

    desk_book_refresh()

    assert desk_row().gross == D("300000.00")


def test_risk_monitor_when_desk_limit_then_utilisation_bar_shows_desk_wide_figure(book, make_limit):
    from portfolio_app.models import Position
    from risk_app.services import risk_monitor_recompute

    aapl = book["AAPL"]
    first, second = desk_portfolio("Bar A"), desk_portfolio("Bar B")
    Position.objects.create(portfolio=first, instrument=aapl, quantity=D(10_000), avg_cost=D(100))
    Position.objects.create(portfolio=second, instrument=aapl, quantity=D(5_000), avg_cost=D(100))
    lim = make_limit(K.MAX_GROSS_EXPOSURE, 3_000_000, name="Desk gross")

    util = risk_monitor_recompute(portfolio_id=second.pk)["utilisation"]

    assert util[str(lim.pk)] == pytest.approx(0.5)  # 1.5M desk-wide of 3M, not the portfolio's 0.5M


def test_order_submit_when_desk_limit_names_other_portfolios_then_not_applied(book, make_limit, no_routing):
    aapl = book["AAPL"]
    first, second, outside = desk_portfolio("Named A"), desk_portfolio("Named B"), desk_portfolio("Outside")
    make_limit(K.MAX_GROSS_EXPOSURE, 1_500_000, name="Desk gross A+B", params={"portfolios": [first.pk, second.pk]})

    assert submit(first, aapl, 10_000).status == "SUBMITTED"
    assert submit(outside, aapl, 10_000).status == "SUBMITTED"  # not concerned: its 1M does not count
    denied = submit(second, aapl, 10_000)

    assert denied.status == "DENIED"
    assert denied.reason == (
        f"Post-trade gross exposure of portfolios {first.pk}, {second.pk} together USD 2,000,000 exceeds the "
        f"USD 1,500,000 limit 'Desk gross A+B'"
    )


def test_limit_create_when_desk_limit_names_an_unknown_portfolio_then_refused(book, make_limit):
    from risk_app.services import RiskInvalid

    with pytest.raises(RiskInvalid) as err:
        make_limit(K.MAX_GROSS_EXPOSURE, 1_000_000, params={"portfolios": [book["portfolio"].pk, 999_999]})

    assert err.value.errors == {"params.portfolios": "No portfolio 999999."}


def test_order_amend_when_refused_by_desk_limit_then_desk_book_keeps_the_order_as_it_was(
    book, make_limit, no_routing, django_capture_on_commit_callbacks
):
    from orders_app.services import order_apply_event
    from orders_app.submission import order_amend_checked

    aapl = book["AAPL"]
    first = desk_portfolio("Amend up A")
    make_limit(K.MAX_GROSS_EXPOSURE, 1_500_000, name="Desk gross")
    order = submit(first, aapl, 10_000)
    order_apply_event(order_id=order.pk, event="ACCEPTED")

    with django_capture_on_commit_callbacks(execute=True):
        result = order_amend_checked(order_id=order.pk, quantity=D(20_000))

    assert result.denied == "Post-trade gross exposure desk-wide USD 2,000,000 exceeds the USD 1,500,000 limit 'Desk gross'"
    assert desk_row().gross == D("1000000.00")
