"""The order lifecycle over FIX 4.4: real QuickFIX sessions on loopback, the gateway a subprocess.

The desk places and works orders in this process (the services, as a worker would run them); the
FIX venue client writes the outbox, the gateway (``manage.py fix_gateway``) sends it to a scripted
venue (``stub_acceptor.StubVenue``) and applies what comes back to the test database.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fix.gateway_harness import fix_desk, gateway_env, replay_clock, wait_for, work, work_initialized  # noqa: F401
from tests.orders.conftest import enqueued  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_order_when_the_venue_fills_in_parts_then_child_and_parent_filled_once_each(fix_desk):
    from fix_app.models import FixCommand, FixExecution
    from orders_app.models import Fill

    fix_desk.stub.fills = (Decimal("0.4"), Decimal("0.6"))
    before = fix_desk.position()

    parent = fix_desk.place(qty=100)
    child = fix_desk.child(parent)
    fix_desk.wait_status(parent, "FILLED")

    child.refresh_from_db()
    assert child.status == "FILLED" and child.venue.code == "FIXS"
    fills = list(Fill.objects.filter(order=child).order_by("id"))
    assert [f.last_qty for f in fills] == [Decimal(40), Decimal(60)]
    assert all(f.trade_id.startswith("FIXS:E") for f in fills)
    assert fix_desk.position() - before == 100
    assert list(child.events.values_list("to_status", flat=True)) == ["INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"]
    assert FixCommand.objects.get(order=child, kind="new").state == "acked"
    assert FixExecution.objects.filter(order=child, outcome="applied").count() == 3


def _stub_order(fix_desk, child):
    return wait_for(lambda: fix_desk.stub.orders.get(child.client_order_id), what="the venue has the order")


def test_order_when_amended_then_cancelled_then_every_report_finds_it_through_the_clordid_chain(fix_desk):
    from fix_app.models import ClOrdLink, FixCommand
    from orders_app.services import order_cancel
    from orders_app.submission import order_amend

    fix_desk.stub.hold = True
    parent = fix_desk.place(qty=100)
    child = fix_desk.child(parent)
    fix_desk.wait_status(child, "ACCEPTED")
    o = _stub_order(fix_desk, child)

    fix_desk.stub.fill(o, Decimal(30))
    fix_desk.wait_status(child, "PARTIALLY_FILLED")
    order_amend(order_id=parent.pk, actor=fix_desk.trader, quantity=Decimal(80))
    wait_for(lambda: (child.refresh_from_db(), child.quantity == 80 and child.status == "PARTIALLY_FILLED")[1], what="the replace")
    fix_desk.stub.fill(o, Decimal(10))  # reported on the replace's ClOrdID
    wait_for(lambda: (child.refresh_from_db(), child.filled_qty == 40)[1], what="a fill on the new ClOrdID")
    order_cancel(order_id=parent.pk, actor=fix_desk.trader)
    fix_desk.wait_status(parent, "CANCELED")

    child.refresh_from_db()
    base = child.client_order_id
    assert child.status == "CANCELED" and child.filled_qty == 40 and "confirmed by FIXS at 2022-03-01" in child.reason
    assert list(ClOrdLink.objects.filter(order=child).values_list("cl_ord_id", "kind", "live")) == [
        (base, "new", False), (f"{base}~R1", "replace", True), (f"{base}~C2", "cancel", False)]
    cancel = fix_desk.stub.messages("F")[-1]
    assert (cancel[11], cancel[41]) == (f"{base}~C2", f"{base}~R1")  # a new ClOrdID, and the one the venue works
    assert set(FixCommand.objects.filter(order=child).values_list("state", flat=True)) == {"acked"}
    assert list(child.events.values_list("to_status", flat=True)) == [
        "INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PARTIALLY_FILLED", "PARTIALLY_FILLED",
        "PENDING_CANCEL", "CANCELED"]


def test_order_when_the_venue_rejects_then_the_slice_is_rerouted_and_a_day_order_expires(fix_desk):
    from orders_app.models import Order, RoutingDecision, Venue

    paper = Venue.objects.get(code="LIT-B")  # dearer than the FIX venue: the router picks that first
    Venue.objects.filter(pk=paper.pk).update(enabled=True)
    fix_desk.stub.reject = {"KO": "symbol halted at the venue"}

    parent = fix_desk.place("KO", 100)
    first = fix_desk.child(parent)
    fix_desk.wait_status(first, "REJECTED")
    again = wait_for(lambda: Order.objects.filter(parent=parent, client_order_id__endswith="-R1").first(), what="the re-route")
    work_initialized(parent.pk)
    wait_for(lambda: (work(fix_desk.enqueued), fix_desk.status_of(parent) == "FILLED")[1], 30, what="the re-routed slice filled")

    first.refresh_from_db()
    again.refresh_from_db()
    assert first.venue.code == "FIXS" and first.reason == "symbol halted at the venue"
    assert again.venue_id == paper.pk and again.status == "FILLED"
    attempt = RoutingDecision.objects.get(parent=parent).attempts[0]
    assert (attempt["venue"], attempt["rerouted_to"]) == ("FIXS", paper.code)

    fix_desk.stub.reject, fix_desk.stub.hold = {}, True
    Venue.objects.filter(pk=paper.pk).update(enabled=False)
    day = fix_desk.place("PEP", 50)
    child = fix_desk.child(day)
    fix_desk.wait_status(child, "ACCEPTED")
    fix_desk.stub.expire(_stub_order(fix_desk, child))
    fix_desk.wait_status(day, "EXPIRED")
    child.refresh_from_db()
    assert child.status == "EXPIRED" and child.reason.startswith("expired at FIXS")


def test_reports_when_repeated_busted_or_corrected_then_applied_once_and_the_position_follows(fix_desk):
    from fix_app.models import FixExecution, ReconciliationBreak
    from orders_app.models import Fill
    from risk_app.models import Alert

    stub = fix_desk.stub
    stub.hold, stub.duplicate = True, True
    before = fix_desk.position()
    parent = fix_desk.place(qty=100)
    child = fix_desk.child(parent)
    fix_desk.wait_status(child, "ACCEPTED")
    o = _stub_order(fix_desk, child)
    e1 = stub.fill(o, Decimal(40), Decimal("100"))
    e2 = stub.fill(o, Decimal(20), Decimal("100"))
    wait_for(lambda: (child.refresh_from_db(), child.filled_qty == 60)[1], what="two fills")
    stub.duplicate = False
    wait_for(lambda: FixExecution.objects.filter(order=child).count() == 3, what="reports recorded")  # 0, F, F

    assert Fill.objects.filter(order=child).count() == 2  # each report came twice, applied once
    assert fix_desk.position() - before == 60

    stub.correct(o, e2, Decimal(10), Decimal("101"))
    wait_for(lambda: (child.refresh_from_db(), child.filled_qty == 50)[1], what="the correction")
    assert fix_desk.position() - before == 50
    stub.bust(o, e1)
    wait_for(lambda: (child.refresh_from_db(), child.filled_qty == 10)[1], what="the bust")

    assert fix_desk.position() - before == 10
    assert sum(Fill.objects.filter(order=child).values_list("last_qty", flat=True)) == 10  # a position is the sum of its fills
    assert child.status == "PARTIALLY_FILLED" and child.avg_px == Decimal("101")
    parent.refresh_from_db()
    assert parent.filled_qty == 10
    assert [e for e in child.events.values_list("event", flat=True) if e.startswith("FILL_")] == ["FILL_CORRECTED", "FILL_BUSTED"]
    assert set(ReconciliationBreak.objects.filter(order=child).values_list("kind", flat=True)) == {"bust", "correct"}
    assert not ReconciliationBreak.objects.filter(order=child, resolved_at__isnull=True).exists()  # audited, applied
    assert Alert.objects.filter(kind="fix", severity="critical", status="active").count() == 2


def _raw_report(stub, o, over: dict) -> None:
    """A report as the stub would send it, with fields replaced (by tag) as a faulty venue would."""
    fields = dict([(37, o.order_id), (11, o.chain[-1]), (17, stub._exec_id()), (150, "F"), (39, "1"), (55, o.symbol), (54, o.side),
                   (38, "100"), (14, "40"), (151, "60"), (6, "100"), (32, "40"), (31, "100"), (60, "20220301-15:30:00.000")])
    fields.update(over)
    stub.send([(t, v) for t, v in fields.items() if v is not None])


def test_bad_input_when_a_venue_sends_it_then_rejected_or_recorded_never_applied_and_the_gateway_lives(fix_desk):
    from fix_app.models import ReconciliationBreak
    from orders_app.models import Fill
    from orders_app.services import order_cancel

    stub = fix_desk.stub
    stub.hold = True
    parent = fix_desk.place(qty=100)
    child = fix_desk.child(parent)
    fix_desk.wait_status(child, "ACCEPTED")
    o = _stub_order(fix_desk, child)
    breaks = lambda kind: ReconciliationBreak.objects.filter(kind=kind).count()  # noqa: E731

    _raw_report(stub, o, {11: "GHOST-1", 17: "EGHOST"})  # on no order of the desk
    dk = wait_for(lambda: stub.messages("Q"), what="a DontKnowTrade")
    assert dk[0][17] == "EGHOST" and dk[0][127] == "D"
    _raw_report(stub, o, {14: "70", 151: "30"})  # a fill of 40 that the venue says makes 70
    wait_for(lambda: breaks("qty_mismatch") == 1, what="the CumQty break")
    _raw_report(stub, o, {32: "-5"})  # impossible: a negative fill
    _raw_report(stub, o, {14: "140", 151: "0"})  # impossible: more filled than ordered
    _raw_report(stub, o, {31: "abc"})  # malformed: not a price
    rejects = wait_for(lambda: len(stub.messages("3")) >= 3 and stub.messages("3"), what="three session-level rejects")
    assert {r.get(371) for r in rejects} >= {"32", "14", "31"}

    order_cancel(order_id=parent.pk, actor=fix_desk.trader)
    fix_desk.wait_status(child, "CANCELED")
    _raw_report(stub, o, {11: child.client_order_id, 14: "40", 151: "0", 39: "1"})  # a fill after the cancel
    wait_for(lambda: breaks("out_of_order") == 1, what="the out-of-order break")

    child.refresh_from_db()
    assert child.filled_qty == 0 and not Fill.objects.filter(order=child).exists()
    assert breaks("unknown_order") == 1 and breaks("malformed") == 2
    assert fix_desk.gateway.alive()
    stub.hold = False
    fine = fix_desk.place("PEP", 30)
    fix_desk.wait_status(fine, "FILLED")


def test_kill_switch_when_halted_then_every_working_fix_order_is_cancelled_at_the_venue(fix_desk):
    from django.contrib.auth import get_user_model

    from orders_app.models import Order
    from risk_app.services.state import trading_state_set

    fix_desk.stub.hold = True
    parents = [fix_desk.place(sym, q) for sym, q in (("KO", 100), ("PEP", 70), ("KO", 40))]
    for p in parents:
        fix_desk.wait_status(fix_desk.child(p), "ACCEPTED")

    trading_state_set(scope="desk", state="HALTED", actor=get_user_model().objects.get(username="risk"), reason="drill")
    assert [e[0] for e in fix_desk.enqueued] == ["cancel"]  # the halt's cancels go to the control queue
    work(fix_desk.enqueued)  # as the control worker runs them: each cancel to the gateway, first in its outbox

    for p in parents:
        fix_desk.wait_status(p, "CANCELED")
    children = Order.objects.filter(parent__in=parents)
    assert set(children.values_list("status", flat=True)) == {"CANCELED"}
    assert len(fix_desk.stub.messages("F")) == 3
    assert all("confirmed by FIXS" in c.reason for c in children)
