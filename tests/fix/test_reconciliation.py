"""Reconciliation of the desk with a FIX venue: real QuickFIX sessions on loopback between the gateway
(``manage.py fix_gateway``) and the simulated venue (``manage.py fix_venue``), both subprocesses on the
test database and the DB-anchored replay clock (five market minutes a wall second)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fix.fixharness import FixClient, VenueProcess
from tests.fix.gateway_harness import GatewayProcess, _wait_other_sessions_gone, other_sessions, wait_for, wait_reconciled, work
from tests.orders.conftest import enqueued  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS_PER_SESSION = 78.0  # five market minutes a wall second
MINUTES_AFTER_OPEN = 30
SYMBOL = "BBY"
CODE = "FIX-R"


@dataclass
class ReconDesk:
    venue: object
    venue_proc: VenueProcess
    gateway: GatewayProcess
    portfolio: object
    trader: object
    enqueued: list
    venue_env: dict
    venue_state: Path

    def up(self) -> None:
        """Start the gateway and wait until its session is logged on (not until it is reconciled)."""
        from fix_app.models import FixSession

        self.gateway.start()
        try:
            wait_for(lambda: FixSession.objects.filter(venue=self.venue, logged_on=True).exists(), 60, what="the logon")
        except AssertionError:
            print(self.gateway.output()[-4000:], self.venue_proc.output()[-3000:])
            raise

    def restart_venue(self, *args: str) -> None:
        """The venue stopped and started again (same port, book and FIX store) with ``args``."""
        self.venue_proc.stop()
        self.venue_proc = _venue(self.venue.fix_port, self.venue_state, self.venue_env, args).start()

    def place(self, qty: int, symbol: str = SYMBOL):
        from orders_app.services import order_place

        parent = order_place(user=self.trader, portfolio_id=self.portfolio.pk, symbol=symbol, side="BUY", quantity=Decimal(qty))
        work(self.enqueued)
        return parent

    def child(self, parent):
        from orders_app.models import Order

        return Order.objects.filter(parent=parent).order_by("id").first()

    def wait_status(self, order, *statuses, timeout: float = 30.0) -> None:
        try:
            wait_for(lambda: (order.refresh_from_db(), order.status in statuses)[1], timeout,
                     what=f"{order.client_order_id} in {statuses}")
        except AssertionError:
            print(self.gateway.output()[-4000:])
            raise


def _venue(port: int, state: Path, env: dict, args) -> VenueProcess:
    from django.conf import settings

    return VenueProcess(port=port, state_dir=state, env=env, base_dir=Path(settings.BASE_DIR),
                        args=["--venue-code", CODE, "--tick-ms", "100", *args])


@pytest.fixture
def venue_args() -> list[str]:
    return []


@pytest.fixture
def gateway_env() -> dict:
    return {}


@pytest.fixture
def recon_desk(demo_small, enqueued, tmp_path, venue_args, gateway_env):  # noqa: F811
    """The demo desk with one FIX venue (the other venues disabled) and the simulated venue running; the gateway
    is started by the test (``up``), so that it can place an order first."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from market_app.clock import anchor_set, set_clock
    from market_app.marks import clear_cache
    from orders_app.models import Venue
    from portfolio_app.models import Portfolio
    from tests.live_stack import database_url, free_port

    into = MINUTES_AFTER_OPEN * SECONDS_PER_SESSION / 390
    anchor_set(start_market_date="2022-03-01", seconds_per_session=SECONDS_PER_SESSION,
               wall_epoch=timezone.now() - timedelta(seconds=into))
    set_clock(None)
    clear_cache()
    Venue.objects.update(enabled=False)
    port = free_port()
    venue = Venue.objects.create(
        code=CODE, name="FIX venue R", kind=Venue.Kind.FIX, fix_sender_comp_id="DESK", fix_target_comp_id="VENUE",
        fix_host="127.0.0.1", fix_port=port, fix_heartbeat_s=5, half_spread_bps=Decimal("0.1"), maker_fee_bps=0,
        taker_fee_bps=Decimal("0.3"), min_fee=0, latency_ms=Decimal("1"), impact_k=Decimal("0.01"), displayed_share=Decimal("0.05"),
    )
    env = {"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "DJANGO_LOG_LEVEL": "WARNING",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = other_sessions()
    venue_proc = _venue(port, tmp_path / "venue", env, venue_args).start()
    gateway = GatewayProcess(tmp_path / "gateway", **{"DESK_FIX_RECONCILE_TIMEOUT_S": 5, **gateway_env})
    book = Portfolio.objects.create(name="fix-recon", cash=Decimal("100000000.00"))
    trader = get_user_model().objects.get(username="trader")
    book.traders.add(trader)
    desk = ReconDesk(venue, venue_proc, gateway, book, trader, enqueued, env, tmp_path / "venue")
    yield desk
    gateway.kill9()
    desk.venue_proc.stop()
    set_clock(None)
    _wait_other_sessions_gone(before=before)


def displayed(symbol: str = SYMBOL) -> int:
    """What the venue shows of ``symbol`` a market minute, about now."""
    from market_app.clock import get_clock
    from market_app.marks import session_at, session_market
    from market_app.matching.paper import PaperExchange
    from orders_app.venues import paper_venues

    now = get_clock().market_now()
    venue = [v for v in paper_venues() if v.code == CODE]
    ex = PaperExchange(venue, market=session_market(session_at(now), [symbol]), clock=lambda: now)
    return int(ex.quotes(symbol)[0].displayed_qty)


def _run(venue, **filters):
    from fix_app.models import ReconciliationRun

    return ReconciliationRun.objects.filter(venue=venue, **filters).order_by("-id").first()


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("venue_args", [["--query-delay-ms", "1500"]])
def test_logon_when_the_session_comes_up_then_the_venue_is_unreconciled_until_a_clean_run_and_a_new_order_waits(recon_desk):
    from fix_app.models import FixCommand
    from orders_app.models import Venue
    from orders_app.venues import paper_venues

    desk = recon_desk
    parent = desk.place(100)  # routed to the FIX venue while the gateway is down: its NewOrderSingle waits in the outbox
    child = desk.child(parent)
    new = FixCommand.objects.get(order=child, kind="new")
    assert child.venue_id == desk.venue.pk and new.state == "pending"

    desk.up()
    running = wait_for(lambda: _run(desk.venue, trigger="logon", status="running"), 10, what="the logon run")
    assert not Venue.objects.get(pk=desk.venue.pk).reconciled
    assert not next(v for v in paper_venues() if v.code == CODE).enabled  # the router does not use it
    time.sleep(0.5)
    new.refresh_from_db()
    assert new.state == "pending", "a new order goes out only once the venue is reconciled"

    run = wait_reconciled(desk.venue)
    desk.wait_status(parent, "FILLED")
    new.refresh_from_db()
    assert run.pk == running.pk and run.status == "clean" and run.breaks == 0
    assert (run.venue_orders, run.desk_orders, run.positions) == (0, 0, 0)
    assert run.finished_at - run.started_at >= timedelta(seconds=1.4)  # the venue's answers took 1.5 s
    assert new.sent_at >= run.finished_at
    assert next(v for v in paper_venues() if v.code == CODE).enabled


def test_logon_when_the_venue_filled_while_the_gateway_was_down_then_the_missed_fills_are_applied_once(recon_desk):
    from fix_app.models import FixExecution, ReconciliationRun
    from fix_app.recon_services import reconciliation_request
    from django.contrib.auth import get_user_model
    from orders_app.models import Fill

    desk = recon_desk
    desk.up()
    first = wait_reconciled(desk.venue)
    qty = displayed() * 20  # fills over about twenty market minutes: four wall seconds
    parent = desk.place(qty)
    child = desk.child(parent)
    wait_for(lambda: Fill.objects.filter(order=child).exists(), 20, what="a first fill")
    desk.gateway.kill9()  # the venue fills on; its reports wait in its FIX store
    time.sleep(2.0)

    desk.gateway.start()
    run = wait_reconciled(desk.venue, after=first.pk)
    desk.wait_status(parent, "FILLED")

    assert run.trigger == "logon" and run.status == "clean", (run.status, list(run.found.values("kind", "detail")))
    assert run.fills_recovered >= 1  # re-sent by the venue (PossDup) and applied during the run
    fills = list(Fill.objects.filter(order=child))
    trades = FixExecution.objects.filter(venue=desk.venue, exec_type="F")
    assert sum(f.last_qty for f in fills) == qty and len(fills) == trades.count() == len({f.trade_id for f in fills})
    assert trades.filter(poss_dup=True).count() >= run.fills_recovered

    # The desk's position at the venue is the venue's: a run asked for now finds nothing.
    again = reconciliation_request(venue_id=desk.venue.pk, actor=get_user_model().objects.get(username="admin"))
    done = wait_for(lambda: ReconciliationRun.objects.exclude(status="running").filter(pk=again.pk).first(), 15, what="the run")
    assert (done.status, done.positions, done.breaks) == ("clean", 1, 0)


def test_reconcile_when_the_venue_works_an_order_the_desk_does_not_know_then_a_break_and_an_alert(recon_desk, tmp_path):
    from fix_app.models import ReconciliationBreak
    from orders_app.models import Venue
    from risk_app.models import Alert

    desk = recon_desk
    desk.up()
    first = wait_reconciled(desk.venue)
    desk.gateway.stop()
    # Someone else on the desk's session (the same FIX store) leaves an order at the venue.
    rogue = FixClient(desk.venue.fix_port, state_dir=tmp_path / "gateway").start()
    try:
        rogue.wait_logon()
        rogue.new_order("ROGUE-1", SYMBOL, "1", 300, price="1.00", account="DESK")
        rogue.wait_for(lambda m: m.get(11) == "ROGUE-1" and m.get(150) == "0")
    finally:
        rogue.stop()

    desk.up()
    run = wait_reconciled(desk.venue, after=first.pk)

    brk = ReconciliationBreak.objects.get(run=run)
    assert run.status == "breaks" and (run.venue_orders, run.breaks) == (1, 1)
    assert brk.kind == "unknown_order" and brk.detail["cl_ord_id"] == "ROGUE-1" and brk.detail["leaves_qty"] == "300"
    alert = Alert.objects.get(key=f"fix:break:{brk.pk}")
    assert alert.status == "active" and "ROGUE-1" in alert.message
    assert Venue.objects.get(pk=desk.venue.pk).reconciled  # a break recorded does not keep the venue from the router


def test_reconcile_when_the_desk_position_was_edited_and_a_risk_officer_presses_the_button_then_a_position_break(recon_desk):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from fix_app.models import ReconciliationBreak, ReconciliationRun
    from orders_app.models import Fill
    from risk_app.models import Alert

    desk = recon_desk
    desk.up()
    wait_reconciled(desk.venue)
    parent = desk.place(100)
    desk.wait_status(parent, "FILLED")
    fill = Fill.objects.filter(order__parent=parent).first()
    Fill.objects.filter(pk=fill.pk).update(last_qty=fill.last_qty - 10)  # behind the venue's back

    users = get_user_model().objects
    risk, trader = Client(), Client()
    risk.force_login(users.get(username="risk"))
    trader.force_login(users.get(username="trader"))
    assert trader.post(f"/venues/{desk.venue.pk}/reconcile/").status_code == 403
    r = risk.post(f"/venues/{desk.venue.pk}/reconcile/")
    assert r.status_code == 302
    run = wait_for(lambda: ReconciliationRun.objects.filter(venue=desk.venue, trigger="button").exclude(status="running").first(),
                   15, what="the button's run")

    brk = ReconciliationBreak.objects.get(run=run)
    assert run.status == "breaks" and run.requested_by.username == "risk"
    assert brk.kind == "position" and (brk.detail["symbol"], brk.detail["venue"], brk.detail["desk"], brk.detail["difference"]) == (
        SYMBOL, "100", "90", "10")
    assert Alert.objects.get(key=f"fix:break:{brk.pk}").severity == "critical"
    page = trader.get("/venues/reconciliation/").content.decode()
    assert f'data-run="{run.pk}"' in page and f'data-break="{brk.pk}"' in page and "venue 100, desk 90" in page


@pytest.mark.parametrize("venue_args", [["--query-delay-ms", "4000"]])
@pytest.mark.parametrize("gateway_env", [{"DESK_FIX_RECONCILE_TIMEOUT_S": "1.5"}])
def test_logon_when_the_venue_does_not_answer_in_time_then_timed_out_unreconciled_alerted_until_a_run_finishes(recon_desk):
    from fix_app.models import FixCommand
    from orders_app.models import Venue
    from risk_app.models import Alert

    desk = recon_desk
    paper = Venue.objects.get(code="LIT-B")
    desk.up()
    timed_out = wait_for(lambda: _run(desk.venue, trigger="logon", status="timed_out"), 15, what="the run timed out")
    alert = Alert.objects.get(key=f"fix:reconcile:{CODE}", status="active")
    assert not Venue.objects.get(pk=desk.venue.pk).reconciled and "no complete answer" in timed_out.detail
    assert alert.severity == "critical" and "not reconciled" in alert.message

    Venue.objects.filter(pk=paper.pk).update(enabled=True)
    parent = desk.place(100)
    assert desk.child(parent).venue_id == paper.pk  # the router does not use the unreconciled venue
    assert not FixCommand.objects.filter(venue=desk.venue).exists()

    desk.restart_venue()  # answering at once now: the gateway logs on again and reconciles
    run = wait_reconciled(desk.venue, after=timed_out.pk)
    assert run.status == "clean" and Alert.objects.get(pk=alert.pk).status == "resolved"


def test_reconciliation_page_when_runs_found_breaks_then_listed_and_a_risk_officer_resolves_one_with_a_note(demo_small):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from fix_app import recon_services as rs
    from fix_app.models import FixSession, ReconciliationBreak, ReconciliationRun
    from fix_app.reconcile_core import VenueOrder
    from orders_app.models import Venue
    from risk_app.models import Alert

    venue = Venue.objects.create(code="FIX-P", name="FIX venue P", kind=Venue.Kind.FIX, fix_sender_comp_id="DESK",
                                 fix_target_comp_id="VENUE", fix_host="127.0.0.1", fix_port=1)
    FixSession.objects.create(venue=venue, logged_on=True)
    users = get_user_model().objects
    trader, risk, admin = (users.get(username=u) for u in ("trader", "risk", "admin"))

    def scheduled_run():
        assert rs.reconciliations_schedule() == ["FIX-P"]
        run = ReconciliationRun.objects.get(venue=venue, status="running")
        rs.reconciliation_start(venue=venue, trigger=run.trigger, run_id=run.pk)
        return rs.reconciliation_finish(run_id=run.pk, venue_orders=[VenueOrder("X-9", "KO", "SELL", Decimal(0), Decimal(300), True)],
                                        venue_positions={"KO": Decimal(-10)}, desk_orders=[], desk_positions={})

    first, second = scheduled_run(), scheduled_run()
    assert (first.trigger, first.status, first.breaks, second.breaks) == ("schedule", "breaks", 2, 2)
    breaks = ReconciliationBreak.objects.filter(venue=venue)
    assert sorted(breaks.values_list("kind", "run_id")) == [("position", first.pk), ("unknown_order", first.pk)]  # found again: once
    pressed = rs.reconciliation_request(venue_id=venue.pk, actor=admin)
    rs.reconciliation_start(venue=venue, trigger="button", run_id=pressed.pk)
    rs.reconciliation_timeout(run_id=pressed.pk, why="no complete answer for positions (AN) within 10 s")
    assert not Venue.objects.get(pk=venue.pk).reconciled

    as_trader, as_risk = Client(), Client()
    as_trader.force_login(trader)
    as_risk.force_login(risk)
    page = as_trader.get("/venues/reconciliation/").content.decode()
    assert all(f'data-run="{r.pk}"' in page for r in (first, second, pressed)) and "timed out" in page and "· admin" in page
    assert "the venue works X-9 (SELL 300 KO open), unknown to the desk" in page and "KO: venue -10, desk 0 (difference -10)" in page
    assert "Reconcile now" not in page and 'name="note"' not in page and "unreconciled: not routed" in page

    position = breaks.get(kind="position")
    url = f"/venues/reconciliation/breaks/{position.pk}/resolve/"
    assert as_trader.post(url, {"note": "not mine"}).status_code == 403
    as_risk.post(url, {"note": ""})
    assert ReconciliationBreak.objects.get(pk=position.pk).resolved_at is None
    assert as_risk.post(url, {"note": "venue booked a give-up; confirmed by phone"}).status_code == 302
    position.refresh_from_db()
    assert position.resolved_by == risk and position.resolution == "venue booked a give-up; confirmed by phone"
    assert Alert.objects.get(key=f"fix:break:{position.pk}").status == "resolved"
    page = as_risk.get("/venues/reconciliation/").content.decode()
    assert "Reconcile now" in page and "by risk: venue booked a give-up; confirmed by phone" in page
