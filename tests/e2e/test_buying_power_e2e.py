"""The portfolio page shows, in the browser, what open orders reserve and the buying power left."""

import os
from decimal import Decimal

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

pytestmark = [pytest.mark.e2e]


def test_portfolio_page_when_a_buy_is_open_then_shows_reserved_cash_and_buying_power(demo_small, live_server, browser, shot,
                                                                                      transactional_db):
    from ops_app.demo import DEMO_PORTFOLIO, demo_password
    from orders_app.submission import order_place
    from portfolio_app.models import Portfolio

    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    trader = core.traders.get(username="trader")
    order = order_place(user=trader, portfolio_id=core.pk, symbol="KO", side="BUY", quantity=Decimal(5000),
                        algo="TWAP", algo_params={"slices": 4})
    assert order.status == "SUBMITTED", order.reason
    order.refresh_from_db()

    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "trader")
    page.fill("#id_password", demo_password())
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/portfolio/")
    kpis = page.text_content(".kpis")
    shot(page, "portfolio-buying-power")

    assert f"Reserved{order.reserved_cash:,.2f}" in " ".join(kpis.split()).replace(" ", ""), kpis
    assert f"{core.cash - order.reserved_cash:,.2f}" in kpis and "cash account" in kpis
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
