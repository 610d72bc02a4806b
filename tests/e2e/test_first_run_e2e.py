"""The first run, in the browser: the demo loaded with its history (as ``make run`` loads it) shows a
desk that has been trading -- positions with P&L, a NAV history, a pending proposal, what each user can
do next -- and a trader who approves the proposal sees its working orders' progress move live."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import (  # noqa: E402,F401
    browser, demo_with_history, login, mark_page, page_kept, shot, wait_until, watch_console,
)

pytestmark = [pytest.mark.e2e]

# The replay starts 150 market minutes before the close (600 wall s per 390-minute session: about
# four wall minutes before the replay rolls to the next session): today's NAV line has points since the
# open, and the opening proposal's TWAP slices, due up to the close, start filling within a minute.
MINUTES_BEFORE_CLOSE = 150


@pytest.fixture
def first_run_stack(transactional_db):
    from tests.live_stack import LiveStack

    loaded = demo_with_history(minutes_before_close=MINUTES_BEFORE_CLOSE)
    with LiveStack(extra_env={"DESK_ORDER_POLL_SECONDS": "0.2"}) as s:
        s.demo = loaded
        yield s


def _progress(page) -> dict[str, float]:
    """Each working order's progress bar, read in one go (the panel may be redrawn between two reads)."""
    rows = page.evaluate("""() => Array.from(document.querySelectorAll('#working-rows tr[data-order-id]')).map(
        tr => [tr.dataset.orderId, Number((tr.querySelector('progress') || {}).value || 0)])""")
    return dict((oid, float(v)) for oid, v in rows)


def _signed_amounts(texts):
    return [float(t.replace(",", "").replace("+", "")) for t in texts if t.strip() not in ("", "—")]


def test_first_run_when_demo_loaded_then_overview_shows_the_desk_trading_and_approval_moves_orders_live(first_run_stack, browser, shot):  # noqa: F811
    from ops_app.demo import demo_password
    from orders_app.models import Order
    from portfolio_app.models import NavSnapshot, RebalanceProposal

    stack = first_run_stack
    password = demo_password()
    proposal = RebalanceProposal.objects.get(pk=stack.demo.proposal_id)
    assert proposal.status == "PENDING_APPROVAL"

    page = login(browser, stack, "trader", password)
    errors = watch_console(page)
    page.wait_for_selector("#live-indicator.on", timeout=20_000)
    mark_page(page)

    # Positions with P&L, realised and unrealised, and a weight against the proposal's target.
    rows = page.locator("#ov-position-table tbody tr[data-symbol]")
    assert rows.count() >= 5
    upnl = _signed_amounts(page.locator('#ov-position-table [data-cell="upnl"]').all_text_contents())
    assert any(abs(v) > 0 for v in upnl), upnl
    rpnl = _signed_amounts(page.locator('#ov-position-table [data-cell="rpnl"]').all_text_contents())
    assert any(abs(v) > 0 for v in rpnl), rpnl
    assert any(t.strip() != "—" for t in page.locator('#ov-position-table [data-cell="gap"]').all_text_contents())
    # The NAV history: one point per history session plus now, and today's line since the open.
    sessions = NavSnapshot.objects.filter(portfolio__name="Core Equity").count()
    equity = page.get_attribute("#ov-chart polyline.equity", "points")
    assert len(equity.split()) == sessions + 1 > 100
    assert len(page.get_attribute("#ov-intraday-chart polyline.equity", "points").split()) > 10
    # The pending proposal, and the trader told to decide it.
    assert f"#{proposal.pk}" in page.text_content("#ov-proposals") and "Review & approve" in page.text_content("#ov-proposals")
    assert "waits for your decision" in page.text_content("#ov-next")
    assert "No order is working" in page.text_content("#ov-working")
    shot(page, "first-run-1-overview")

    # Approve from the proposal's page in a second tab; the overview stays open, never reloaded.
    decide = page.context.new_page()
    decide.goto(stack.url + f"/proposals/{proposal.pk}/")
    decide.wait_for_selector("button[data-action=approve]", timeout=20_000)
    decide.click("button[data-action=approve]")
    decide.wait_for_selector(".pstatus-executing, .pstatus-completed", timeout=30_000)
    working = [o for o in Order.objects.filter(proposal=proposal, parent__isnull=True) if o.status != "DENIED"]
    assert working, "every order of the approved proposal was denied"

    # Its orders appear in the Working orders panel, then their progress moves without a reload.
    page.wait_for_selector("#working-rows tr[data-order-id]", timeout=20_000)
    first_seen = _progress(page)
    shot(page, "first-run-2-overview-working")

    def progressed():
        now = _progress(page)
        return next(((oid, first_seen[oid], v) for oid, v in now.items() if oid in first_seen and v > first_seen[oid]), None)

    moved = wait_until(progressed, timeout=120, interval=0.3, message="a working order's progress moving on the open overview")
    assert page_kept(page), "the overview was reloaded; progress must arrive over the websocket"
    order = Order.objects.get(pk=int(moved[0]))
    assert order.filled_qty > 0
    shot(page, "first-run-3-overview-progress")
    bad = [e for e in errors if "Content Security Policy" in e or "Uncaught" in e]
    assert not bad, bad

    # The risk officer and the admin are told what they can do, each their own thing.
    for role, expected in (("risk", "Open Risk"), ("admin", "Open Venues")):
        other = login(browser, stack, role, password)
        other.wait_for_selector("#ov-next li", timeout=20_000)
        text = other.text_content("#ov-next")
        assert expected in text, f"{role}: {text}"
        assert "waits for your decision" not in text, f"{role} is told to approve: {text}"
        other.context.close()
