"""The end-of-day report on the real stack: a replayed session traded and closed, Celery beat writes the
reports at the close, a trader opens the Reports page and the report in Chromium (screenshots), and
regenerates it as version 2 beside version 1."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, wait_until, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]

SESSION = date(2022, 3, 1)
SECONDS_PER_SESSION = 120.0
WALL_SECONDS_BEFORE_CLOSE = 50.0


@pytest.fixture
def closing_stack(demo_small, transactional_db):
    from django.utils import timezone

    from market_app.clock import anchor_set
    from tests.live_stack import LiveStack

    into = SECONDS_PER_SESSION - WALL_SECONDS_BEFORE_CLOSE
    anchor_set(start_market_date=SESSION.isoformat(), seconds_per_session=SECONDS_PER_SESSION,
               wall_epoch=timezone.now() - timedelta(seconds=into))
    with LiveStack(extra_env={"DESK_ORDER_POLL_SECONDS": "0.2", "DESK_EOD_CHECK_SECONDS": "1"}) as s:
        yield s


def test_eod_report_when_a_replayed_session_closes_then_beat_writes_it_and_the_trader_reads_it(closing_stack, browser, shot):  # noqa: F811
    from decimal import Decimal

    from market_app.clock import get_clock
    from ops_app.demo import demo_password
    from ops_app.eod.models import EodReport
    from orders_app.models import Fill, Order
    from orders_app.services import order_place
    from portfolio_app.models import Portfolio
    from django.contrib.auth import get_user_model

    stack = closing_stack
    core = Portfolio.objects.get(name="Core Equity")
    trader = get_user_model().objects.get(username="trader")
    assert get_clock().market_now().date() == SESSION
    order = order_place(user=trader, portfolio_id=core.pk, symbol="AAPL", side="BUY", quantity=Decimal(300))
    wait_until(lambda: Order.objects.get(pk=order.pk).status == "FILLED", timeout=40, message="the order filled")

    key = f"portfolio:{core.pk}"
    report = wait_until(lambda: EodReport.objects.filter(scope_key=key, session=SESSION).first(), timeout=150,
                        message="beat's report at the close")
    assert report.version == 1 and report.trigger == "close"
    assert EodReport.objects.filter(scope_key="desk", session=SESSION).exists()
    close = report.day.market_close
    fills = Fill.objects.filter(order__portfolio=core, ts_event__lte=close)
    assert report.content["summary"]["fills"] == str(fills.count()) != "0"

    page = login(browser, stack, "trader", demo_password())
    errors = watch_console(page)
    page.click("nav >> text=Reports")
    page.wait_for_selector(f'tr[data-report="{report.pk}"]')
    assert "desk" not in page.text_content("#eod-list").lower()  # the desk's report is for risk officers and admins
    shot(page, "eod-reports-list")
    page.click(f'tr[data-report="{report.pk}"] a >> nth=0')
    page.wait_for_selector("#eod-kpis")
    assert page.text_content("#eod-hash").strip() == report.content_hash
    assert "content matches" in page.text_content("#eod-intact")
    nav = f"{Decimal(report.content['summary']['nav']):,.2f}"
    assert page.text_content("#kpi-nav").strip() == nav
    assert order.client_order_id in page.text_content("#eod-orders")
    shot(page, "eod-report")

    page.click("text=Regenerate (new version)")
    page.wait_for_selector("text=version 2")
    assert EodReport.objects.filter(scope_key=key, session=SESSION).count() == 2
    assert EodReport.objects.get(pk=report.pk).content_hash == report.content_hash
    assert not errors, errors

    # A risk officer reads every report, the desk's too.
    desk = EodReport.objects.get(scope_key="desk", session=SESSION, version=1)
    officer = login(browser, stack, "risk", demo_password())
    officer.goto(stack.url + "/reports/")
    assert officer.locator(f'tr[data-report="{desk.pk}"]').count() == 1
    officer.goto(stack.url + f"/reports/{desk.pk}/")
    officer.wait_for_selector("#eod-kpis")
    assert "Desk" in officer.text_content("#eod-head")
    shot(officer, "eod-report-desk")
