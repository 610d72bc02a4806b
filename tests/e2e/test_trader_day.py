"""A trader's day in the browser: a pending proposal with its risk verdict, approved; the
orders appear and fill live in the blotter (a page opened before the approval and never
reloaded); the fills tick into the Overview; the Portfolio page shows the new positions."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, mark_page, page_kept, shot, wait_until, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]

# The replay starts an hour before the close (600 wall s per 390-minute session): the
# proposal's TWAP window runs to the close, so its slices fill within about a minute and a half.
MINUTES_BEFORE_CLOSE = 60


@pytest.fixture
def late_session_stack(demo_small, transactional_db):
    from django.utils import timezone

    from market_app.clock import anchor_set
    from tests.live_stack import LiveStack

    into = (390 - MINUTES_BEFORE_CLOSE) * 600 / 390
    anchor_set(start_market_date="2022-03-01", seconds_per_session=600.0, wall_epoch=timezone.now() - timedelta(seconds=into))
    with LiveStack(extra_env={"DESK_ORDER_POLL_SECONDS": "0.2"}) as s:
        yield s


def test_trader_day_when_proposal_approved_then_orders_fill_live_in_blotter_and_positions_show(late_session_stack, browser, shot):  # noqa: F811
    from ops_app.demo import demo_password
    from orders_app.models import Fill, Order
    from portfolio_app.models import Portfolio, Position, RebalanceProposal

    stack = late_session_stack
    core = Portfolio.objects.get(name="Core Equity")
    page = login(browser, stack, "trader", demo_password())
    errors = watch_console(page)
    page.wait_for_selector("#live-indicator.on", timeout=20_000)

    # The blotter, open in a second tab of the same session before anything is approved.
    blotter = page.context.new_page()
    blotter_errors = watch_console(blotter)
    blotter.goto(stack.url + "/orders/")
    blotter.wait_for_selector("#live-indicator.on", timeout=20_000)
    mark_page(blotter)
    overview = page.context.new_page()
    overview.goto(stack.url + "/")
    overview.wait_for_selector("#live-indicator.on", timeout=20_000)
    mark_page(overview)

    # A pending proposal with its risk verdict.
    # Asked for by the portfolio's second trader: maker != checker, so "trader" is the one who approves.
    from execution_app.rebalance.services import proposal_request

    page.goto(stack.url + "/proposals/")
    page.wait_for_selector("#live-indicator.on", timeout=20_000)
    proposal_request(portfolio_id=core.pk, trigger="on demand", actor=core.traders.get(username="trader2"))
    page.wait_for_selector("button[data-action=approve]", timeout=90_000)
    p = RebalanceProposal.objects.get(portfolio=core, status="PENDING_APPROVAL")
    panel = page.text_content(f'section[data-proposal="{p.pk}"]')
    assert "Risk" in panel and any(v in panel for v in ("✓ passes", "warning", "blocked"))
    assert p.trades.count() > 0
    wait_until(lambda: "Review & approve" in overview.text_content("#ov-proposals") and f"#{p.pk}" in overview.text_content("#ov-proposals"),
               timeout=20, message="the pending proposal on the open Overview")
    shot(page, "trader-day-1-pending-proposal")
    shot(overview, "trader-day-1-overview-pending")

    page.click("button[data-action=approve]")
    page.wait_for_selector(".pstatus-executing, .pstatus-completed", timeout=30_000)
    parents = list(Order.objects.filter(proposal=p, parent__isnull=True))
    assert len(parents) == p.trades.count()
    submitted = [o for o in parents if o.status != "DENIED"]
    assert submitted, "every order was denied at approval"

    # The blotter shows the new parents and their fills without a reload.
    first = submitted[0]
    blotter.wait_for_selector(f'tr.parent[data-order-id="{first.pk}"]', timeout=20_000)
    wait_until(lambda: blotter.locator('tr.parent td[data-cell="status"]', has_text="FILLED").count() >= 1,
               timeout=60, message="a FILLED (or PARTIALLY_FILLED) row in the live blotter")
    shot(blotter, "trader-day-2-blotter-filling")
    wait_until(lambda: all(blotter.get_attribute(f'tr.parent[data-order-id="{o.pk}"]', "data-status") == "FILLED" for o in submitted),
               timeout=150, message="every submitted order FILLED in the live blotter")
    assert page_kept(blotter), "the blotter was reloaded; fills must arrive over the websocket"
    for o in submitted:
        o.refresh_from_db()
        cell = blotter.text_content(f'tr.parent[data-order-id="{o.pk}"] td[data-cell="filled_qty"]')
        assert cell.replace(",", "") == f"{o.filled_qty:.0f}"
    shot(blotter, "trader-day-3-blotter-filled")

    # The Overview's ticker got the fills pushed, and its KPIs moved off all-cash.
    fills = Fill.objects.filter(order__portfolio=core)
    assert fills.exists()
    wait_until(lambda: overview.locator("#fill-rows tr").count() >= min(fills.count(), 30), timeout=20,
               message="the fills in the overview ticker")
    assert page_kept(overview)
    wait_until(lambda: overview.locator("#ov-position-table tr[data-symbol]").count() > 0, timeout=20,
               message="positions on the overview")
    shot(overview, "trader-day-4-overview-after-fills")

    # The Portfolio page shows the new positions.
    page.goto(stack.url + "/portfolio/")
    held = set(Position.objects.filter(portfolio=core).exclude(quantity=0).values_list("instrument__symbol", flat=True))
    assert held
    table = page.text_content(".pf-grid table.grid")
    assert all(sym in table for sym in held)
    shot(page, "trader-day-5-portfolio-positions")
    csp = [e for e in errors + blotter_errors if "Content Security Policy" in e]
    assert not csp, csp
