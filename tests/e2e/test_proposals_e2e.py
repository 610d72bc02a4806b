"""In the browser: a trader requests a rebalance, sees it arrive live, and approves it."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, stack  # noqa: E402,F401 - fixtures

pytestmark = [pytest.mark.e2e]


def test_proposals_page_when_trader_requests_then_pending_arrives_live_and_approve_creates_orders(demo_small, browser, stack, shot):  # noqa: F811
    from ops_app.demo import DEMO_PORTFOLIO, demo_password
    from orders_app.models import Order
    from portfolio_app.models import Portfolio, RebalanceProposal

    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    page = login(browser, stack, "trader", demo_password())
    page.goto(stack.url + "/proposals/")
    page.wait_for_selector("#live-indicator.on", timeout=20_000)
    page.click("button[data-action=request]")
    # Computed by the worker and pushed: the panel re-renders with its decision (for the requester: reject only).
    page.wait_for_selector("button[data-action=reject]", timeout=60_000)
    p = RebalanceProposal.objects.get(portfolio=core)
    assert p.status == "PENDING_APPROVAL"
    text = page.text_content("main")
    assert f"Proposal #{p.pk}" in text and "Exp. ret" in text and "expires in" in text
    shot(page, "proposals-pending")

    page.click("button[data-action=reject]")  # no reason: refused in the page, nothing sent
    assert "needs a reason" in page.text_content(".msg")
    # Maker != checker: the requester sees no Approve; the portfolio's second trader approves.
    assert page.locator("button[data-action=approve]").count() == 0 and page.locator(".own-request").count() == 1
    page = login(browser, stack, "trader2", demo_password())
    page.goto(stack.url + "/proposals/")
    page.wait_for_selector("button[data-action=approve]", timeout=20_000)
    page.click("button[data-action=approve]")
    page.wait_for_selector(".pstatus-executing, .pstatus-completed", timeout=30_000)
    assert Order.objects.filter(proposal=p, parent__isnull=True).count() == p.trades.count()
    shot(page, "proposals-approved")

    page.goto(stack.url + "/portfolio/")
    page.wait_for_selector("svg.frontier polyline", timeout=20_000)
    shot(page, "portfolio")
