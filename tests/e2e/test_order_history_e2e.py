"""The order page shows an amend's old and new values and who made it, and a denied amend's reasons."""

import os
from decimal import Decimal

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

pytestmark = [pytest.mark.e2e]


def test_order_page_when_amended_then_history_shows_old_and_new_and_who(demo_small, live_server, browser, shot, transactional_db):
    from ops_app.demo import DEMO_PORTFOLIO, demo_password
    from orders_app.submission import order_amend_checked, order_place
    from portfolio_app.models import Portfolio

    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    trader = core.traders.get(username="trader")
    order = order_place(user=trader, portfolio_id=core.pk, symbol="KO", side="BUY", quantity=Decimal(500),
                        algo="TWAP", algo_params={"slices": 4})
    assert order.status == "SUBMITTED", order.reason
    assert not order_amend_checked(order_id=order.pk, actor=trader, quantity=Decimal(800)).denied
    denied = order_amend_checked(order_id=order.pk, actor=trader, quantity=Decimal(5_000_000)).denied
    assert denied

    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "trader")
    page.fill("#id_password", demo_password())
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + f"/orders/{order.pk}/")
    history = page.text_content("main")
    assert "quantity 500 → 800" in history and "MODIFY_REJECTED" in history and "amend denied" in history
    shot(page, "order-detail-amend-history")
