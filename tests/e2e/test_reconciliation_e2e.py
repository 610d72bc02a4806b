"""The Reconciliation page in the browser: a risk officer reads the runs and breaks of a FIX venue and
resolves a break with a note; screenshots before and after in tests/artifacts/screenshots/."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, stack, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]


def _seed_runs():
    """A FIX venue with a clean logon run, a scheduled run that found two breaks and a button run that timed out."""
    from django.contrib.auth import get_user_model

    from fix_app import recon_services as rs
    from fix_app.models import FixSession
    from fix_app.reconcile_core import DeskOrder, VenueOrder
    from orders_app.models import Venue

    venue = Venue.objects.create(code="FIX-A", name="FIX venue A", kind=Venue.Kind.FIX, fix_sender_comp_id="DESK",
                                 fix_target_comp_id="VENUE", fix_host="127.0.0.1", fix_port=9878)
    FixSession.objects.create(venue=venue, logged_on=True, next_sender_seq=412, next_target_seq=398)
    logon = rs.reconciliation_start(venue=venue, trigger="logon")
    working = DeskOrder("P41-AAPL-1", frozenset({"P41-AAPL-1"}), "AAPL", "BUY", Decimal(400), "PARTIALLY_FILLED")
    rs.reconciliation_finish(run_id=logon.pk, venue_orders=[VenueOrder("P41-AAPL-1", "AAPL", "BUY", Decimal(400), Decimal(800), True)],
                             venue_positions={"AAPL": Decimal(400), "XOM": Decimal(-800)}, desk_orders=[working],
                             desk_positions={"AAPL": Decimal(400), "XOM": Decimal(-800)})
    run = rs.reconciliation_request(venue_id=venue.pk, trigger="schedule")
    rs.reconciliation_start(venue=venue, trigger="schedule", run_id=run.pk)
    rs.reconciliation_finish(run_id=run.pk, venue_orders=[
        VenueOrder("P41-AAPL-1", "AAPL", "BUY", Decimal(600), Decimal(600), True),
        VenueOrder("GUI-7731", "MSFT", "SELL", Decimal(0), Decimal(1500), True)],
        venue_positions={"AAPL": Decimal(600), "XOM": Decimal(-800)}, desk_orders=[working],
        desk_positions={"AAPL": Decimal(400), "XOM": Decimal(-750)})
    pressed = rs.reconciliation_request(venue_id=venue.pk, actor=get_user_model().objects.get(username="risk"))
    rs.reconciliation_start(venue=venue, trigger="button", run_id=pressed.pk)
    rs.reconciliation_timeout(run_id=pressed.pk, why="no complete answer for positions (AN) within 10 s")
    return venue


def test_reconciliation_page_when_a_risk_officer_resolves_a_break_then_it_shows_who_when_and_the_note(demo_small, browser, stack, shot):  # noqa: F811
    from fix_app.models import ReconciliationBreak
    from ops_app.demo import demo_password

    _seed_runs()
    position = ReconciliationBreak.objects.get(kind="position", detail__symbol="XOM")

    page = login(browser, stack, "risk", demo_password())
    errors = watch_console(page)
    page.goto(stack.url + "/venues/reconciliation/")
    assert page.locator("#runs tbody tr").count() == 3
    assert page.locator("#breaks tr.open").count() == 4  # unknown order, quantity, two positions
    assert "unreconciled: not routed" in page.locator("#recon-venues").text_content()
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shot(page, "reconciliation-risk")

    row = page.locator(f'tr[data-break="{position.pk}"]')
    row.locator('input[name="note"]').fill("venue booked 50 XOM to the desk's account by mistake; reversed at the venue")
    row.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    row = page.locator(f'tr[data-break="{position.pk}"]')
    assert "resolved" in row.get_attribute("class") and "by risk: venue booked 50 XOM" in row.text_content()
    assert not errors, errors
    shot(page, "reconciliation-resolved")

    trader = login(browser, stack, "trader", demo_password())
    trader.goto(stack.url + "/venues/reconciliation/")
    assert trader.locator("text=Reconcile now").count() == 0 and trader.locator('input[name="note"]').count() == 0
