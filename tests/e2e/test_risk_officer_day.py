"""A risk officer's day in the browser: tighten a limit (applies at once), loosen another (a
second officer approves it in their own browser), halt trading — and the halt reaches the
trader's open page without a reload — then re-arm, which the second officer confirms."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, mark_page, page_kept, shot, stack, wait_until, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]


def _limit_row(page, limit_id):
    return page.locator(f'#limits tr[data-limit="{limit_id}"]')


def _edit_limit(page, limit_id, threshold, reason):
    row = _limit_row(page, limit_id)
    row.locator("form.limit-edit input[name=threshold]").fill(threshold)
    row.locator("form.limit-edit input[name=reason]").fill(reason)
    with page.expect_navigation():  # the form posts and redirects back: wait for the new page
        row.locator("form.limit-edit button[type=submit]").click()


def test_risk_officer_day_when_tighten_loosen_and_halt_then_four_eyes_and_halt_reach_trader_live(demo_small, browser, stack, shot):  # noqa: F811
    from ops_app.demo import demo_password
    from risk_app.models import PendingLimitChange, RiskLimit, TradingStateRecord

    password = demo_password()
    qty_limit = RiskLimit.objects.get(name="Max order quantity")
    notional = RiskLimit.objects.get(name__startswith="Max order notional")

    # The trader's overview is open all along: the halt must arrive there by itself.
    trader = login(browser, stack, "trader", password)
    trader_errors = watch_console(trader)
    trader.wait_for_selector("#live-indicator.on", timeout=20_000)
    mark_page(trader)

    risk = login(browser, stack, "risk", password)
    risk.goto(stack.url + "/risk/")
    risk.wait_for_selector("#live-indicator.on", timeout=20_000)
    shot(risk, "risk-day-1-limits")

    # Tighten: applies at once, no pending change.
    _edit_limit(risk, qty_limit.pk, "150000", "Tighter ahead of the CPI print")
    qty_limit.refresh_from_db()
    assert qty_limit.threshold == 150000
    assert "150,000 sh" in _limit_row(risk, qty_limit.pk).locator("td.num").first.text_content()
    assert not PendingLimitChange.objects.filter(limit=qty_limit, status="pending").exists()

    # Loosen: waits for a second officer; the limit is unchanged meanwhile.
    _edit_limit(risk, notional.pk, "2500000", "Bigger tickets for the index rebalance")
    notional.refresh_from_db()
    assert notional.threshold == 2000000
    change = PendingLimitChange.objects.get(limit=notional, status="pending")
    pending_row = risk.locator(f'#pending tr[data-change="{change.pk}"]')
    assert "yours: another officer approves" in pending_row.text_content()
    shot(risk, "risk-day-2-pending")

    risk2 = login(browser, stack, "risk2", password)  # a second browser context
    risk2.goto(stack.url + "/risk/")
    with risk2.expect_navigation():
        risk2.locator(f'#pending tr[data-change="{change.pk}"] button.approve').click()
    notional.refresh_from_db()
    assert notional.threshold == 2500000
    assert "2,500,000 USD" in _limit_row(risk2, notional.pk).text_content()
    shot(risk2, "risk-day-3-approved-by-second-officer")

    # Halt the desk; the trader's page turns red without a reload. (The first officer's Risk
    # page reloads itself when risk2's approval arrives; let that finish before navigating.)
    for attempt in range(3):
        try:
            risk.goto(stack.url + "/risk/")
            break
        except Exception:  # net::ERR_ABORTED: our navigation raced the page's own reload
            if attempt == 2:
                raise
            risk.wait_for_timeout(500)
    desk_row = risk.locator('#states tr[data-scope="desk"]')
    desk_row.locator("form.state-form input[name=reason]").fill("Exchange outage")
    with risk.expect_navigation():
        desk_row.locator("button.halt").click()
    assert TradingStateRecord.objects.get(scope="desk").state == "HALTED"
    shot(risk, "risk-day-4-halted")

    trader.wait_for_selector("body.state-halted #trading-state.tstate-halted", timeout=20_000)
    assert trader.text_content("#trading-state").strip() == "HALTED"
    assert page_kept(trader), "the trader's page was reloaded; the halt must arrive over the websocket"
    shot(trader, "risk-day-5-trader-sees-halt")

    # Re-arm: the first officer asks, the state stays HALTED until the second officer confirms.
    desk_row = risk.locator('#states tr[data-scope="desk"]')
    desk_row.locator("form.state-form input[name=reason]").fill("Exchange back, fills reconciled")
    with risk.expect_navigation():
        desk_row.locator('form.state-form button[name=state][value=ACTIVE]').click()
    assert TradingStateRecord.objects.get(scope="desk").state == "HALTED"
    assert "waiting for a second risk officer" in risk.locator('#states tr[data-scope="desk"] .rearm').text_content()
    shot(risk, "risk-day-6-rearm-requested")
    risk2.goto(stack.url + "/risk/")
    with risk2.expect_navigation():
        risk2.locator('#states tr[data-scope="desk"] button.confirm-rearm').click()
    assert TradingStateRecord.objects.get(scope="desk").state == "ACTIVE"
    shot(risk2, "risk-day-7-rearmed-by-second-officer")
    trader.wait_for_selector("#trading-state:not(.tstate-halted)", timeout=20_000)
    assert trader.text_content("#trading-state").strip() == "ACTIVE"
    assert page_kept(trader), "the re-arm must reach the trader's page over the websocket too"
    assert not [e for e in trader_errors if "Content Security Policy" in e], trader_errors
