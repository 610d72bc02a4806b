"""Live trading over FIX in the browser, on the real stack as ``make run`` starts it: the demo's FIX venue
(``manage.py fix_venue``) and the desk's gateway (``manage.py fix_gateway``) beside the web server, the
worker and beat. The Venues page shows the session logged on; an approved rebalance fills partly over FIX;
a HALT cancels every working FIX order at the venue, each confirmed by it."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, wait_until, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def fix_stack(demo_small, transactional_db):
    from django.utils import timezone

    from market_app.clock import anchor_set
    from tests.live_stack import LiveStack

    # Mid-morning of a replayed session, 600 wall seconds a session: the TWAP slices go out for minutes.
    anchor_set(start_market_date="2022-03-01", seconds_per_session=600.0, wall_epoch=timezone.now() - timedelta(seconds=60))
    with LiveStack(fix=True, extra_env={"DESK_ORDER_POLL_SECONDS": "0.2"}) as s:
        yield s


def test_fix_day_when_a_rebalance_is_approved_then_it_fills_partly_over_fix_and_a_halt_cancels_at_the_venue(fix_stack, browser, shot):  # noqa: F811
    from django.contrib.auth import get_user_model

    from execution_app.rebalance.approval import proposal_approve
    from execution_app.rebalance.services import proposal_request
    from fix_app.models import FixSession
    from ops_app.demo import demo_password
    from orders_app.models import Fill, Order, Venue
    from portfolio_app.models import Portfolio, RebalanceProposal
    from risk_app.services.state import trading_state_set

    stack = fix_stack
    fix_a = Venue.objects.get(code="FIX-A")
    wait_until(lambda: FixSession.objects.filter(venue=fix_a, logged_on=True).exists(), timeout=60, message="the FIX session logged on")

    admin = login(browser, stack, "admin", demo_password())
    errors = watch_console(admin)
    admin.goto(stack.url + "/venues/")
    row = admin.locator('tr[data-venue="FIX-A"]')
    assert "logged on" in row.text_content() and "DESK → VENUE" in row.text_content()
    assert "routed" in row.text_content()
    shot(admin, "fix-day-1-venues-logged-on")

    core = Portfolio.objects.get(name="Core Equity")
    users = get_user_model().objects
    p, _ = proposal_request(portfolio_id=core.pk, trigger="fix day", actor=users.get(username="trader2"))
    wait_until(lambda: RebalanceProposal.objects.get(pk=p.pk).status == "PENDING_APPROVAL", timeout=90, message="the proposal computed")
    proposal_approve(proposal_id=p.pk, actor=users.get(username="trader"))

    over_fix = Fill.objects.filter(order__proposal=p, order__venue=fix_a)
    wait_until(lambda: over_fix.exists(), timeout=90, message="a fill over FIX")
    assert Fill.objects.filter(order__proposal=p).exclude(order__venue=fix_a).exists(), "only partly over FIX"
    f = over_fix.first()
    assert f.trade_id.startswith("FIX-A:") and f.last_qty > 0 and f.commission >= 0
    from orders_app.selectors import venue_scorecard

    card = {v.code: v for v in venue_scorecard()}  # latency measured from the venue's real acknowledgements
    assert card["FIX-A"].latency_samples > 0 and card["FIX-A"].ack_p50_ms > 0 and card["FIX-A"].first_fill_p50_ms > 0
    admin.goto(stack.url + "/orders/")
    admin.wait_for_selector("text=FIX-A")
    shot(admin, "fix-day-2-blotter-partly-over-fix")
    admin.goto(stack.url + "/orders/?scorecard=1")
    row = admin.locator("#scorecard tr", has_text="FIX-A")
    assert "/" in row.text_content()  # the measured ack p50 / p95
    shot(admin, "fix-day-2b-venue-scorecard-measured-latency")

    # A limit order resting at the FIX venue (the only one left enabled), then the kill switch.
    from decimal import Decimal

    from market_app.clock import get_clock
    from market_app.marks import marks_found
    from orders_app.submission import order_place

    Venue.objects.exclude(pk=fix_a.pk).update(enabled=False)
    mark = marks_found(["KO"], get_clock().market_now())[0]["KO"]
    resting = order_place(user=users.get(username="trader"), portfolio_id=core.pk, symbol="KO", side="BUY", quantity=Decimal(300),
                          order_type="LIMIT", limit_price=(mark * Decimal("0.96")).quantize(Decimal("0.01")))
    working = Order.objects.filter(parent=resting, venue=fix_a, status="ACCEPTED")
    wait_until(lambda: working.exists(), timeout=60, message="a limit order resting at the FIX venue")
    trading_state_set(scope="desk", state="HALTED", actor=users.get(username="risk"), reason="fix drill")
    sent = list(Order.objects.filter(venue=fix_a, sent_at__isnull=False).values_list("pk", flat=True))
    open_statuses = ["SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_CANCEL", "PENDING_UPDATE"]
    wait_until(lambda: not Order.objects.filter(pk__in=sent, status__in=open_statuses).exists(), timeout=30,
               message="every FIX order cancelled at the venue")
    cancelled = list(Order.objects.filter(pk__in=sent, status="CANCELED"))
    assert any(o.parent_id == resting.pk for o in cancelled)
    for o in cancelled:
        e = o.events.filter(event="CANCELED").first()
        assert e is not None and e.venue_ts is not None, o.client_order_id
    risk = login(browser, stack, "risk", demo_password())
    risk.goto(stack.url + "/risk/")
    assert "all confirmed" in risk.text_content("#states-panel")
    shot(risk, "fix-day-3-halt-cancels-confirmed")
    assert not errors
