"""``manage.py fix_venue`` over real QuickFIX sessions on loopback: the venue runs as a subprocess against the
test database, on the desk's DB-anchored replay clock, and a raw QuickFIX initiator (``fixharness``) trades with it."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fix.fixharness import FixClient, VenueProcess, fix_time

pytestmark = [pytest.mark.django_db(transaction=True)]

SECONDS_PER_SESSION = 78.0  # the replay runs five market minutes a wall second
MINUTES_AFTER_OPEN = 30
SYMBOL, OTHER = "BBY", "CVX"  # BBY: 3 M shares a day, a few hundred displayed a minute
VENUE_CODE = "FIX-A"


@pytest.fixture
def fix_market(demo_small):
    """The demo's market, a FIX venue row, and the replay clock half an hour into 2022-03-01's session."""
    from django.utils import timezone

    from market_app.clock import anchor_set
    from orders_app.models import Venue

    Venue.objects.create(
        code=VENUE_CODE, name="FIX venue A", kind=Venue.Kind.FIX, fix_sender_comp_id="DESK", fix_target_comp_id="VENUE",
        fix_host="127.0.0.1", maker_fee_bps=Decimal("0.2"), taker_fee_bps=Decimal("0.3"), min_fee=Decimal("0.35"),
        half_spread_bps=Decimal("1.0"), latency_ms=Decimal("1.0"), impact_k=Decimal("0.1"), displayed_share=Decimal("0.05"),
    )
    into = MINUTES_AFTER_OPEN * SECONDS_PER_SESSION / 390
    anchor_set(start_market_date="2022-03-01", seconds_per_session=SECONDS_PER_SESSION, wall_epoch=timezone.now() - timedelta(seconds=into))


@pytest.fixture
def fix_stack(fix_market, tmp_path):
    """Start venues (``stack.venue(*args)``) and desk sessions (``stack.desk()``); all stopped at the end."""
    from django.conf import settings

    from tests.live_stack import database_url, free_port

    class Stack:
        port = free_port()
        venues: list[VenueProcess] = []
        clients: list[FixClient] = []

        def venue(self, *args: str) -> VenueProcess:
            env = {
                "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "DJANGO_LOG_LEVEL": "INFO",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            v = VenueProcess(port=self.port, state_dir=tmp_path / "venue", env=env, base_dir=Path(settings.BASE_DIR),
                             args=["--venue-code", VENUE_CODE, "--tick-ms", "100", *args])
            self.venues.append(v)
            return v.start()

        def desk(self, *, logon: bool = True) -> FixClient:
            c = FixClient(self.port, state_dir=tmp_path / "desk").start()
            self.clients.append(c)
            if logon:
                c.wait_logon()
            return c

    stack = Stack()
    yield stack
    for c in stack.clients:
        c.stop()
    for v in stack.venues:
        v.stop()


def displayed(symbol: str = SYMBOL) -> int:
    """What the venue shows of ``symbol`` a minute, about now (tests size orders in it)."""
    from market_app.clock import get_clock
    from market_app.marks import session_at, session_market
    from market_app.matching.paper import PaperExchange
    from orders_app.venues import paper_venues

    now = get_clock().market_now()
    ex = PaperExchange([v for v in paper_venues() if v.code == VENUE_CODE], market=session_market(session_at(now), [symbol]),
                       clock=lambda: now)
    return int(ex.quotes(symbol)[0].displayed_qty)


def mark(symbol: str = SYMBOL) -> Decimal:
    from market_app.clock import get_clock
    from market_app.marks import marks_at

    return marks_at([symbol], get_clock().market_now())[symbol]


def test_new_order_when_market_order_then_acked_and_filled_over_time_with_the_paper_models_trade_ids(fix_stack):
    from desk.interfaces import ExecutionOrder, Side
    from market_app.marks import session_at, session_market
    from market_app.matching.paper import PaperExchange
    from orders_app.venues import paper_venues

    qty = displayed() * 4 + 7
    fix_stack.venue()
    desk = fix_stack.desk()

    desk.new_order("MKT-1", SYMBOL, "1", qty, account="CORE")
    done = desk.wait_for(lambda m: m.get(11) == "MKT-1" and m.get(39) == "2", timeout=30)[0]

    reports = desk.reports(["MKT-1"])
    assert reports[0][150] == "0" and reports[0][39] == "0" and reports[0][151] == str(qty)
    fills = [m for m in reports if m[150] == "F"]
    assert len(fills) >= 4
    assert sum(int(m[32]) for m in fills) == qty == int(done[14])
    assert len({m[60] for m in fills}) == len(fills)  # one fill per market minute, not one burst
    assert fills[-1][0] - fills[0][0] > 0.3  # and they arrived over wall time, tick by tick
    for m in fills:
        assert m[13] == "3" and Decimal(m[12]) >= Decimal("0.35") and m[1] == "CORE"
        assert int(m[14]) + int(m[151]) == qty
    # The paper model, given the same order at the same market time, makes the same trades.
    accepted_at = fix_time(reports[0][60])
    venue = replace(next(v for v in paper_venues() if v.code == VENUE_CODE), enabled=True)
    model = PaperExchange([venue], market=session_market(session_at(accepted_at), [SYMBOL]), clock=lambda: accepted_at)
    model.submit(ExecutionOrder("MKT-1", SYMBOL, Side.BUY, Decimal(qty), VENUE_CODE, ts=accepted_at), lambda f: None)
    expected = model.advance(fix_time(fills[-1][60]))
    assert [(m[17], Decimal(m[32]), Decimal(m[31]), Decimal(m[12])) for m in fills] == [
        (f.trade_id, f.last_qty, f.last_px, f.commission) for f in expected
    ]


def test_cancel_replace_when_resting_then_replaced_then_cancelled_and_late_requests_refused(fix_stack):
    px = (mark() * Decimal("0.5")).quantize(Decimal("0.01"))  # far below the path: it rests
    fix_stack.venue()
    desk = fix_stack.desk()
    desk.new_order("LMT-1", SYMBOL, "1", 100, price=px)
    new = desk.wait_for(lambda m: m.get(11) == "LMT-1" and m.get(150) == "0")[0]

    desk.send("G", {11: "LMT-2", 41: "LMT-1", 55: SYMBOL, 54: "1", 38: "300", 40: "2", 44: str(px - 1)})
    replaced = desk.wait_for(lambda m: m.get(11) == "LMT-2" and m.get(35) == "8")[0]
    desk.send("F", {11: "LMT-3", 41: "LMT-1", 55: SYMBOL, 54: "1"})  # an older ClOrdID of the chain still names it
    cancelled = desk.wait_for(lambda m: m.get(11) == "LMT-3" and m.get(35) == "8")[0]
    desk.send("F", {11: "LMT-4", 41: "LMT-2", 55: SYMBOL, 54: "1"})
    desk.send("F", {11: "X-1", 41: "NOPE", 55: SYMBOL, 54: "1"})
    late, unknown = (desk.wait_for(lambda m, c=c: m.get(35) == "9" and m.get(11) == c)[0] for c in ("LMT-4", "X-1"))
    desk.send("H", {11: "LMT-2", 55: SYMBOL, 54: "1", 790: "S-1"})
    status = desk.wait_for(lambda m: m.get(150) == "I" and m.get(790) == "S-1")[0]

    assert (replaced[150], replaced[39], replaced[41], replaced[38], Decimal(replaced[44])) == ("5", "0", "LMT-1", "300", px - 1)
    assert (cancelled[150], cancelled[39], cancelled[41], cancelled[151]) == ("4", "4", "LMT-1", "0")
    assert new[37] == replaced[37] == cancelled[37] == late[37] == status[37]
    assert (late[434], late[102], late[39]) == ("1", "0", "4") and "too late" in late[58]
    assert (unknown[37], unknown[102]) == ("NONE", "1")
    assert (status[39], status[11], status[38]) == ("4", "LMT-3", "300")


def test_new_orders_when_reject_share_then_that_share_rejected_by_clordid_hash_with_a_text(fix_stack):
    from fix_app.venue.records import refuse_share

    fix_stack.venue("--reject-share", "0.4", "--reject-text", "drill: venue refuses")
    desk = fix_stack.desk()
    ids = [f"RJ-{i}" for i in range(12)]
    for c in ids:
        desk.new_order(c, SYMBOL, "2", 10)
    first = {m[11]: m for m in desk.wait_for(lambda m: m.get(11) in ids and m.get(150) in {"0", "8"}, count=12)}

    refused = {c for c in ids if refuse_share(0.4)(c)}
    assert 0 < len(refused) < len(ids)
    assert {c for c, m in first.items() if m[150] == "8"} == refused
    assert all(first[c][58] == "drill: venue refuses" and first[c][39] == "8" for c in refused)


def test_status_requests_when_orders_rest_then_order_status_and_mass_status_report_each_and_bad_messages_are_refused(fix_stack):
    px = (mark() * Decimal("0.5")).quantize(Decimal("0.01"))
    fix_stack.venue()
    desk = fix_stack.desk()
    desk.new_order("ST-1", SYMBOL, "1", 100, price=px)
    desk.new_order("ST-2", SYMBOL, "1", 200, price=px)
    desk.new_order("ST-3", SYMBOL, "1", 5)  # fills at once: not open
    desk.wait_for(lambda m: m.get(11) == "ST-3" and m.get(39) == "2")

    desk.send("H", {11: "ST-1", 55: SYMBOL, 54: "1", 790: "Q-1"})
    desk.send("H", {11: "NOPE", 55: SYMBOL, 54: "1", 790: "Q-2"})
    desk.send("AF", {584: "M-1", 585: "7"})
    desk.send("D", {55: SYMBOL, 54: "1", 38: "10", 40: "1"})  # no ClOrdID: a session-level Reject
    desk.send("x", {320: "SL-1", 559: "4"})  # a message type this venue does not take: BusinessMessageReject
    desk.send("H", {11: "ST-2", 55: SYMBOL, 54: "1", 790: "Q-3"})  # and it carries on

    known, unknown, after = (desk.wait_for(lambda m, q=q: m.get(790) == q)[0] for q in ("Q-1", "Q-2", "Q-3"))
    mass = desk.wait_for(lambda m: m.get(584) == "M-1", count=2)
    session_reject = desk.wait_for(lambda m: m.get(35) == "3", admin=True)[0]
    business_reject = desk.wait_for(lambda m: m.get(35) == "j")[0]

    assert (known[150], known[39], known[11], known[151], known[14]) == ("I", "0", "ST-1", "100", "0")
    assert (unknown[150], unknown[39], unknown[37]) == ("I", "8", "NONE")
    assert (after[11], after[39]) == ("ST-2", "0")
    assert sorted(m[11] for m in mass) == ["ST-1", "ST-2"]
    assert all(m[150] == "I" and m[911] == "2" for m in mass) and [m[912] for m in mass] == ["N", "Y"]
    assert session_reject[371] == "11" and session_reject[373] == "1"  # RefTagID ClOrdID, required tag missing
    assert (business_reject[372], business_reject[380]) == ("x", "3")


def test_request_for_positions_when_orders_filled_then_position_reports_equal_the_sum_of_fills(fix_stack):
    fix_stack.venue()
    desk = fix_stack.desk()
    desk.new_order("P-1", SYMBOL, "1", 120, account="ACC-1")
    desk.new_order("P-2", SYMBOL, "2", 45, account="ACC-1")
    desk.new_order("P-3", OTHER, "2", 30, account="ACC-1")
    desk.new_order("P-4", SYMBOL, "1", 999, account="ACC-2")  # another account: not in ACC-1's reports
    desk.wait_for(lambda m: m.get(35) == "8" and m.get(39) == "2", count=4)

    desk.send("AN", {710: "PR-1", 724: "0", 1: "ACC-1", 581: "1", 715: "20220301"})
    ack = desk.wait_for(lambda m: m.get(35) == "AO" and m.get(710) == "PR-1")[0]
    aps = desk.wait_for(lambda m: m.get(35) == "AP" and m.get(710) == "PR-1", count=2)

    fills: dict[str, int] = {}
    for m in desk.reports(exec_type="F"):
        if m.get(1) == "ACC-1":
            fills[m[55]] = fills.get(m[55], 0) + int(m[32]) * (1 if m[54] == "1" else -1)
    assert fills == {SYMBOL: 75, OTHER: -30}
    assert (ack[727], ack[728]) == ("2", "0")
    assert {m[55]: int(Decimal(m[704])) - int(Decimal(m[705])) for m in aps} == fills
    assert all(m[1] == "ACC-1" for m in aps)


def test_venue_restart_when_an_order_is_working_then_book_and_sequence_numbers_kept_and_missed_reports_resent(fix_stack):
    qty = displayed() * 60  # fills for an hour of market time: still working across the restart
    venue = fix_stack.venue()
    desk = fix_stack.desk()
    desk.new_order("RS-1", SYMBOL, "1", qty)
    desk.wait_for(lambda m: m.get(11) == "RS-1" and m.get(150) == "F", count=2)
    desk.stop()
    seen = list(desk.messages)
    venue.stop(signal.SIGKILL)  # a crash: the book on disk is as of its last change

    fix_stack.venue()
    time.sleep(1.0)  # the restored order fills on while the desk is away: those reports wait in the venue's store
    desk2 = fix_stack.desk()  # the same store: the session carries on, nothing is reset
    desk2.send("H", {11: "RS-1", 55: SYMBOL, 54: "1", 790: "RS-Q"})
    status = desk2.wait_for(lambda m: m.get(790) == "RS-Q")[0]
    logon = desk2.wait_for(lambda m: m.get(35) == "A", admin=True)[0]

    before_status = desk2.messages[: desk2.messages.index(status)]
    fills = [m for m in seen + before_status if m.get(150) == "F"]
    resent = [m for m in desk2.messages if m.get(43) == "Y"]
    # A report the venue wrote down but may not have sent before it died goes again, flagged PossResend.
    first = [m for m in fills if m.get(97) != "Y"]
    ids = [m[17] for m in first]
    assert int(logon[34]) > 2  # the venue's sequence numbers went on
    assert resent and all(m[150] == "F" for m in resent)  # missed fills came back by resend (PossDupFlag)
    assert ids == [f"RS-1-{n}" for n in range(1, len(ids) + 1)]  # no gap, no repeat
    assert {m[17] for m in fills} == set(ids)
    assert status[37] == seen[0][37] and status[39] == "1"
    assert int(status[14]) == sum(int(m[32]) for m in first)


def test_ack_delay_when_set_then_orders_are_acked_no_sooner(fix_stack):
    fix_stack.venue("--ack-delay-ms", "400")
    desk = fix_stack.desk()
    sent = time.monotonic()
    desk.new_order("AD-1", SYMBOL, "1", 10)
    ack = desk.wait_for(lambda m: m.get(11) == "AD-1" and m.get(150) == "0")[0]
    assert ack[0] - sent >= 0.4


def test_duplicate_report_mode_when_order_filled_then_each_report_sent_twice_the_second_poss_dup(fix_stack):
    fix_stack.venue("--duplicate-reports")
    desk = fix_stack.desk()
    desk.new_order("DU-1", SYMBOL, "1", 50)
    desk.wait_for(lambda m: m.get(11) == "DU-1" and m.get(39) == "2", count=2)

    by_exec: dict[str, list[dict]] = {}
    for m in desk.reports(["DU-1"]):
        by_exec.setdefault(m[17], []).append(m)
    assert len(by_exec) == 2  # the ack and the fill
    for copies in by_exec.values():
        assert [m.get(43, "N") for m in copies] == ["N", "Y"]
        assert int(copies[1][34]) == int(copies[0][34]) + 1 and 122 in copies[1]


def test_drop_after_n_when_n_messages_received_then_the_connection_is_dropped_and_a_new_logon_is_taken(fix_stack):
    venue = fix_stack.venue("--drop-after", "3")
    desk = fix_stack.desk()
    for i in range(3):
        desk.send("H", {11: f"DR-{i}", 55: SYMBOL, 54: "1", 790: f"DR-Q{i}"})
    desk.wait_for(lambda m: m.get(790) == "DR-Q2")
    desk.wait_logout(timeout=10)
    desk.wait_logon(timeout=15, count=2)  # the initiator reconnects; the venue takes it

    desk.send("H", {11: "DR-9", 55: SYMBOL, 54: "1", 790: "DR-Q9"})
    desk.wait_for(lambda m: m.get(790) == "DR-Q9")
    assert "fix_venue.drop" in venue.output()


def test_cancel_on_disconnect_when_the_desk_logs_out_then_open_orders_cancelled_and_reported_at_next_logon(fix_stack):
    px = (mark() * Decimal("0.5")).quantize(Decimal("0.01"))
    fix_stack.venue("--cancel-on-disconnect")
    desk = fix_stack.desk()
    desk.new_order("CD-1", SYMBOL, "1", 100, price=px)
    desk.new_order("CD-2", SYMBOL, "1", 5)  # filled: nothing to cancel
    desk.wait_for(lambda m: m.get(11) == "CD-1" and m.get(150) == "0")
    desk.wait_for(lambda m: m.get(11) == "CD-2" and m.get(39) == "2")
    desk.stop()

    desk2 = fix_stack.desk()
    cancel = desk2.wait_for(lambda m: m.get(11) == "CD-1" and m.get(150) == "4")[0]
    desk2.send("AF", {584: "CD-M", 585: "7"})
    none_open = desk2.wait_for(lambda m: m.get(584) == "CD-M")[0]

    assert cancel[58] == "cancelled on disconnect" and cancel[43] == "Y"  # sent while away, delivered by resend
    assert not any(m.get(11) == "CD-2" and m.get(150) == "4" for m in desk2.messages)
    assert none_open[911] == "0"
