"""Reports applied many to a transaction (``fix_app.inbound.reports_receive``), as the gateway's ORM thread
drains its queue: each report still once per (venue, ExecID), still checked against its order, a bad one
a break on its own while the rest of its batch applies; the rows a batch needs read once, not per report.

The desk's side is set up through its services (orders created and submitted through the FIX venue client,
the outbox claimed as the gateway claims it); the venue's reports are parsed from FIX fields as the gateway
parses them. No QuickFIX session here: the gateway's own tests run one.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from tests.orders.conftest import MARKET_T0, stepped_clock  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

_exec_ids = itertools.count(1)


@pytest.fixture
def fix_book(demo_small, stepped_clock):
    """A FIX venue (no session: reports are handed in directly), a portfolio with cash, and its orders' factory."""
    from portfolio_app.models import Portfolio
    from tests.fix.gateway_harness import fix_venue_create

    venue = fix_venue_create(port=1, code="FIXB", only=False)
    portfolio = Portfolio.objects.create(name="fix-batch", cash=Decimal("10000000.00"))
    return venue, portfolio


def _sent_orders(venue, portfolio, n: int, *, symbol: str = "KO", qty: int = 10, tag: str = "b") -> list:
    """``n`` child orders (each under its own parent) submitted to ``venue`` and claimed from the outbox (sent)."""
    from desk import riskstamp
    from fix_app.client import FixVenueClient
    from fix_app.services import commands_claim
    from market_app.clock import get_clock
    from market_app.models import Instrument
    from orders_app import services, states
    from orders_app.models import Order
    from orders_app.working import execution_order

    inst = Instrument.objects.get(symbol=symbol)
    client = FixVenueClient(venue=venue, clock=get_clock().market_now)
    children = []
    for i in range(n):
        parent, _ = services.order_create(client_order_id=f"{tag}-{i}", portfolio_id=portfolio.pk, instrument_id=inst.pk,
                                          side="BUY", quantity=Decimal(qty))
        services.order_apply_event(order_id=parent.pk, event=states.SUBMITTED)
        services.order_apply_event(order_id=parent.pk, event=states.ACCEPTED)
        child, _ = services.order_create(client_order_id=f"{tag}-{i}-c", portfolio_id=portfolio.pk, instrument_id=inst.pk,
                                         side="BUY", quantity=Decimal(qty), parent_id=parent.pk, venue_id=venue.pk)
        services.order_apply_event(order_id=child.pk, event=states.SUBMITTED)
        child = Order.objects.select_related("instrument", "venue").get(pk=child.pk)
        eo = execution_order(child)
        stamp = riskstamp.sign(client_order_id=eo.client_order_id, side=eo.side, symbol=eo.symbol, quantity=eo.quantity,
                               limit_price=eo.limit_price)
        with transaction.atomic():
            client.submit(execution_order(child, stamp=stamp))
        children.append(child)
    claimed = commands_claim(venue_ids=[venue.pk], limit=10_000)
    assert len(claimed) == n
    return children


def _report(cl: str, exec_type: str, ord_status: str, *, cum, leaves, last_qty=None, last_px="100", exec_id: str = "",
            orig: str = "", qty: int = 10):
    """A venue's 8 as the gateway parses it."""
    from fix_app import mapping

    f = {35: "8", 11: cl, 17: exec_id or f"E{next(_exec_ids)}", 150: exec_type, 39: ord_status, 55: "KO", 54: "1", 38: str(qty),
         14: str(cum), 151: str(leaves), 6: "100", 60: MARKET_T0.strftime("%Y%m%d-%H:%M:%S.000")}
    if orig:
        f[41] = orig
    if last_qty is not None:
        f.update({32: str(last_qty), 31: last_px, 12: "0.50"})
    return mapping.parse_report(f)


def _ack(child, **kw):
    return _report(child.client_order_id, "0", "0", cum=0, leaves=child.quantity, **kw)


def _fill(child, last_qty, cum, **kw):
    leaves = child.quantity - cum
    return _report(child.client_order_id, "F", "2" if leaves == 0 else "1", cum=cum, leaves=leaves, last_qty=last_qty, **kw)


def _receive(venue, reports, memory=None):
    from fix_app import inbound

    return inbound.reports_receive(items=[(venue, r) for r in reports], memory=memory)


def _position(portfolio, symbol="KO") -> Decimal:
    from portfolio_app.models import Position

    p = Position.objects.filter(portfolio=portfolio, instrument__symbol=symbol).first()
    return p.quantity if p else Decimal(0)


def test_reports_when_a_burst_for_many_orders_is_one_batch_then_each_applies_once_and_the_books_follow(fix_book):
    from fix_app.models import FixCommand, FixExecution
    from orders_app.models import Fill, Order
    from portfolio_app.models import Portfolio

    venue, portfolio = fix_book
    children = _sent_orders(venue, portfolio, 12)
    cash0 = Portfolio.objects.get(pk=portfolio.pk).cash
    reports = [_ack(c) for c in children]
    reports += [_fill(c, 4, 4, last_px="100") for c in children]
    reports += [_fill(c, 6, 10, last_px="101") for c in children]

    answers = _receive(venue, reports)

    assert {a.outcome for a in answers} == {"applied"}
    for child in children:
        child = Order.objects.get(pk=child.pk)
        parent = Order.objects.get(pk=child.parent_id)
        assert (child.status, child.filled_qty, child.avg_px) == ("FILLED", 10, Decimal("100.6"))
        assert (parent.status, parent.filled_qty, parent.avg_px) == ("FILLED", 10, Decimal("100.6"))
        assert list(child.events.values_list("to_status", flat=True)) == [
            "INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"]
        assert list(parent.events.values_list("to_status", flat=True))[-2:] == ["PARTIALLY_FILLED", "FILLED"]
        assert child.reserved_cash == 0 and parent.reserved_cash == 0
    fills = Fill.objects.filter(order__portfolio=portfolio)
    assert fills.count() == 24 and all(f.trade_id.startswith("FIXB:E") for f in fills)
    assert _position(portfolio) == 120  # a position is the sum of its fills
    spent = sum(f.last_qty * f.last_px + f.commission for f in fills)
    assert Portfolio.objects.get(pk=portfolio.pk).cash == cash0 - spent
    assert FixExecution.objects.filter(venue=venue, outcome="applied").count() == 36
    assert set(FixCommand.objects.filter(venue=venue).values_list("state", flat=True)) == {"acked"}


def test_reports_when_an_exec_id_repeats_inside_a_batch_and_in_the_next_then_it_is_applied_once(fix_book):
    from fix_app.models import FixExecution
    from orders_app.models import Fill, Order

    venue, portfolio = fix_book
    a, b = _sent_orders(venue, portfolio, 2)
    first = _fill(a, 4, 4, exec_id="EDUP")
    answers = _receive(venue, [_ack(a), _ack(b), first, _fill(b, 10, 10), first])
    again = _receive(venue, [first, _fill(a, 6, 10)])

    assert [x.outcome for x in answers] == ["applied", "applied", "applied", "applied", "duplicate"]
    assert [x.outcome for x in again] == ["duplicate", "applied"]
    assert list(Fill.objects.filter(order=a).order_by("id").values_list("last_qty", flat=True)) == [4, 6]
    assert Order.objects.get(pk=a.pk).status == "FILLED" and Order.objects.get(pk=b.pk).status == "FILLED"
    assert _position(portfolio) == 20
    assert FixExecution.objects.filter(venue=venue, exec_id="EDUP").count() == 1


def test_reports_when_one_report_in_a_batch_breaks_then_it_alone_is_a_break_and_the_good_ones_apply(fix_book):
    from fix_app.models import FixExecution, ReconciliationBreak
    from orders_app.models import Fill, Order
    from risk_app.models import Alert

    venue, portfolio = fix_book
    a, b, c = _sent_orders(venue, portfolio, 3)
    bad = _report(b.client_order_id, "F", "1", cum=7, leaves=3, last_qty=4)  # a fill of 4 the venue says makes 7
    after_bad = _fill(b, 4, 4)  # the same fill told right: applies against the order as the break left it

    answers = _receive(venue, [_ack(a), _ack(b), _ack(c), _fill(a, 10, 10), bad, _fill(c, 5, 5), after_bad, _fill(c, 5, 10)])

    assert [x.outcome for x in answers] == ["applied"] * 4 + ["break"] + ["applied"] * 3
    assert Order.objects.get(pk=a.pk).status == "FILLED" and Order.objects.get(pk=c.pk).status == "FILLED"
    b.refresh_from_db()
    assert (b.status, b.filled_qty) == ("PARTIALLY_FILLED", 4)
    assert Fill.objects.filter(order=b).count() == 1 and _position(portfolio) == 24
    brk = ReconciliationBreak.objects.get(venue=venue)
    assert brk.kind == "qty_mismatch" and brk.order_id == b.pk and "CumQty 7" in brk.detail["why"]
    assert FixExecution.objects.get(venue=venue, exec_id=bad.exec_id).outcome == "break"
    assert Alert.objects.filter(key=f"fix:break:{brk.pk}", status="active").exists()


def test_reports_when_a_batch_mixes_fills_cancels_and_rejects_then_each_order_moves_in_report_order(fix_book):
    from orders_app.models import Order

    venue, portfolio = fix_book
    a, b, c = _sent_orders(venue, portfolio, 3)
    canceled = _report(a.client_order_id, "4", "4", cum=3, leaves=0)
    rejected = _report(c.client_order_id, "8", "8", cum=0, leaves=0)

    answers = _receive(venue, [_ack(a), _ack(b), _fill(a, 3, 3), canceled, _fill(b, 2, 2), rejected, _fill(b, 8, 10)])

    assert {x.outcome for x in answers} == {"applied"}
    a, b, c = (Order.objects.get(pk=o.pk) for o in (a, b, c))
    assert (a.status, a.filled_qty) == ("CANCELED", 3) and "cancelled by FIXB" in a.reason
    assert list(a.events.values_list("to_status", flat=True))[2:] == ["ACCEPTED", "PARTIALLY_FILLED", "CANCELED"]
    assert (b.status, b.filled_qty) == ("FILLED", 10)
    assert c.status == "REJECTED"
    assert Order.objects.get(pk=a.parent_id).status == "CANCELED"
    assert _position(portfolio) == 13


def test_reports_batch_when_it_grows_then_its_statements_do_not(fix_book):
    from django.db import connection

    from fix_app import inbound

    venue, portfolio = fix_book
    warm = _sent_orders(venue, portfolio, 1, tag="w")
    small = _sent_orders(venue, portfolio, 4, tag="s")
    large = _sent_orders(venue, portfolio, 16, tag="l")
    memory = inbound.Memory()
    # The ClOrdIDs known, as the gateway knows them once it sent them; the position there already.
    _receive(venue, [_ack(c) for c in warm + small + large] + [_fill(warm[0], 10, 10)], memory)

    counts = []
    for batch in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            answers = _receive(venue, [_fill(c, 4, 4) for c in batch] + [_fill(c, 6, 10) for c in batch], memory)
        assert {a.outcome for a in answers} == {"applied"}
        counts.append(len(ctx.captured_queries))

    assert counts[1] == counts[0], f"statements per batch grew with it: {counts}"
    assert _position(portfolio) == 210


@pytest.mark.asyncio
async def test_reports_when_a_batch_commits_then_every_fill_and_order_change_is_pushed_once_in_order(fix_book):
    from asgiref.sync import sync_to_async

    from desk import groups
    from tests.layer_inbox import Inbox

    venue, portfolio = fix_book
    inbox = await Inbox.listen(groups.portfolio(portfolio.pk))
    children = await sync_to_async(_sent_orders)(venue, portfolio, 3)
    await inbox.drain(0.3)  # what setting them up pushed: read and dropped

    await sync_to_async(_receive)(venue, [_ack(c) for c in children] + [_fill(c, 10, 10) for c in children])

    got = await inbox.drain(1.0)
    await inbox.close()
    fills = [m["data"]["trade_id"] for m in got if m["type"] == "fill.created"]
    assert len(fills) == 3 and len(set(fills)) == 3
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    by_order = {}
    for m in got:
        if m["type"] == "order.updated":
            by_order.setdefault(m["data"]["id"], []).append(m["data"]["status"])
    for c in children:
        assert by_order[c.pk] == ["ACCEPTED", "FILLED"]
        assert by_order[c.parent_id] == ["FILLED"]
    last_fill = [m for m in got if m["type"] == "fill.created"][-1]["data"]
    assert Decimal(last_fill["position_qty"]) == 30
    await sync_to_async(connections.close_all)()  # the test database is dropped after: no session of ours left on it


def test_outbox_claim_when_the_gateway_claims_then_each_command_comes_with_its_venue_and_its_orders_head(fix_book):
    from fix_app.models import FixCommand
    from fix_app.services import commands_claim
    from orders_app.models import Order

    venue, portfolio = fix_book
    children = _sent_orders(venue, portfolio, 3, tag="h")  # claimed there
    FixCommand.objects.filter(venue=venue).update(state=FixCommand.State.PENDING)  # as if never sent

    claimed = commands_claim(venue_ids=[venue.pk], venues={venue.pk: venue})

    want = {c.pk: Order.objects.get(pk=c.pk) for c in children}
    assert sorted(c.order_id for c in claimed) == sorted(want)
    for cmd in claimed:
        order = want[cmd.order_id]
        assert cmd.venue is venue and cmd.state == "sent" and cmd.kind == "new" and cmd.payload["symbol"] == "KO"
        assert (cmd.order.client_order_id, cmd.order.portfolio_id, cmd.order.parent_id) == (
            order.client_order_id, order.portfolio_id, order.parent_id)
    assert commands_claim(venue_ids=[venue.pk]) == []


def test_reports_when_a_batch_holds_only_acks_then_no_portfolio_is_locked(fix_book):
    from django.db import connection

    from fix_app import inbound
    from fix_app.models import FixCommand
    from orders_app.models import Order

    venue, portfolio = fix_book
    children = _sent_orders(venue, portfolio, 2, tag="k")
    memory = inbound.Memory()
    _receive(venue, [_ack(children[0])], memory)  # the ClOrdIDs known, as the gateway knows them once it sent them
    memory.links.update({(venue.pk, c.client_order_id): inbound.Link.of(c) for c in children})

    with CaptureQueriesContext(connection) as ctx:
        answers = _receive(venue, [_ack(children[1])], memory)

    assert [a.outcome for a in answers] == ["applied"]
    assert Order.objects.get(pk=children[1].pk).status == "ACCEPTED"
    assert FixCommand.objects.get(venue=venue, cl_ord_id=children[1].client_order_id).state == "acked"
    sql = [q["sql"] for q in ctx.captured_queries]
    assert not any("portfolio_app_portfolio" in s for s in sql), "an ack changes no portfolio: it locks none"
    # Two statements: the ExecID claimed with the orders locked and read; then the event, the order and the command
    # acknowledged, written together (the command's row after the orders' locks: a cancel locks its order, then its
    # new order's command).
    sql = [s for s in sql if s.split(None, 1)[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
    assert len(sql) == 2, sql
    assert "fix_app_fixexecution" in sql[0] and "FOR UPDATE" in sql[0] and "orders_app_order" in sql[0]
    assert all(t in sql[1] for t in ("fix_app_fixcommand", "orders_app_orderevent", "orders_app_order\"")), sql[1]


def test_reports_when_a_batch_mixes_an_ack_and_a_fill_then_the_portfolio_is_locked_before_the_orders(fix_book):
    from django.db import connection

    venue, portfolio = fix_book
    a, b = _sent_orders(venue, portfolio, 2, tag="m")

    with CaptureQueriesContext(connection) as ctx:
        answers = _receive(venue, [_ack(a), _ack(b), _fill(b, 10, 10)])

    assert {x.outcome for x in answers} == {"applied"}
    sql = [q["sql"] for q in ctx.captured_queries]
    locks = [i for i, s in enumerate(sql) if "FOR UPDATE" in s]
    assert "portfolio_app_portfolio" in sql[locks[0]], "portfolio rows first, as everywhere"
    assert _position(portfolio) == 10


def test_submit_when_a_new_order_then_its_command_and_link_are_written_in_one_statement_and_a_second_submit_sends_nothing(fix_book):
    from django.db import connection

    from desk import riskstamp
    from fix_app.client import FixVenueClient
    from fix_app.models import ClOrdLink, FixCommand
    from market_app.clock import get_clock
    from market_app.models import Instrument
    from orders_app import services, states
    from orders_app.models import Order
    from orders_app.working import execution_order

    venue, portfolio = fix_book
    inst = Instrument.objects.get(symbol="KO")
    child, _ = services.order_create(client_order_id="one-c", portfolio_id=portfolio.pk, instrument_id=inst.pk, side="BUY",
                                     quantity=Decimal(10), venue_id=venue.pk)
    services.order_apply_event(order_id=child.pk, event=states.SUBMITTED)
    child = Order.objects.select_related("instrument", "venue").get(pk=child.pk)
    eo = execution_order(child)
    sealed = execution_order(child, stamp=riskstamp.sign(client_order_id=eo.client_order_id, side=eo.side, symbol=eo.symbol,
                                                         quantity=eo.quantity, limit_price=eo.limit_price))
    client = FixVenueClient(venue=venue, clock=get_clock().market_now)

    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        first = client.submit(sealed)
    second = client.submit(sealed)

    assert first.status.value == "SUBMITTED" and second.status.value == "SUBMITTED"
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]
    cmd = FixCommand.objects.get(venue=venue, cl_ord_id="one-c", kind="new")  # (the second submit asked its status)
    assert (cmd.kind, cmd.state, cmd.order_id, cmd.payload["symbol"], Decimal(cmd.payload["quantity"])) == ("new", "pending", child.pk, "KO", 10)
    link = ClOrdLink.objects.get(venue=venue, cl_ord_id="one-c")
    assert (link.order_id, link.kind, link.live) == (child.pk, "new", True)
    assert FixCommand.objects.filter(venue=venue, kind="new").count() == 1


def test_submit_when_no_order_of_the_venue_has_the_id_then_rejected_and_nothing_written(fix_book):
    import dataclasses

    from desk import riskstamp
    from desk.interfaces import ExecutionOrder, Side
    from fix_app.client import FixVenueClient
    from fix_app.models import FixCommand
    from market_app.clock import get_clock

    venue, _ = fix_book
    client = FixVenueClient(venue=venue, clock=get_clock().market_now)
    eo = ExecutionOrder(client_order_id="nobody", symbol="KO", side=Side.BUY, quantity=Decimal(5), venue=venue.code)
    sealed = dataclasses.replace(eo, risk_stamp=riskstamp.sign(client_order_id="nobody", side=eo.side, symbol="KO",
                                                               quantity=eo.quantity, limit_price=None))

    result = client.submit(sealed)

    assert result.status.value == "REJECTED"
    assert not FixCommand.objects.filter(venue=venue).exists()


def test_outbox_claim_when_a_cancel_waits_behind_its_unsent_order_then_the_claim_says_so(fix_book):
    from fix_app.models import FixCommand
    from fix_app.services import command_create, commands_claim
    from orders_app.models import Order

    venue, portfolio = fix_book
    a, b = _sent_orders(venue, portfolio, 2, tag="q")
    FixCommand.objects.filter(venue=venue).update(state=FixCommand.State.PENDING)  # as if never sent
    with transaction.atomic():
        command_create(venue=venue, order=Order.objects.get(pk=a.pk), kind=FixCommand.Kind.CANCEL, payload={"symbol": "KO", "side": "BUY"})

    first = commands_claim(venue_ids=[venue.pk], venues={venue.pk: venue})
    second = commands_claim(venue_ids=[venue.pk], venues={venue.pk: venue})

    assert sorted(c.kind for c in first) == ["new", "new"] and first.held_back
    assert [c.kind for c in second] == ["cancel"] and not second.held_back
    FixCommand.objects.filter(venue=venue, kind="new").update(state=FixCommand.State.PENDING)
    FixCommand.objects.filter(venue=venue, kind="cancel").update(state=FixCommand.State.SENT)
    assert not commands_claim(venue_ids=[venue.pk]).held_back


def _known(venue, children):
    """A gateway's memory that knows ``children``'s ClOrdIDs, as it does once it sent them (acks take the short way)."""
    from fix_app import inbound

    memory = inbound.Memory()
    memory.links.update({(venue.pk, c.client_order_id): inbound.Link.of(c) for c in children})
    return memory


def test_reports_when_acks_repeat_inside_a_batch_and_after_it_then_each_order_is_accepted_once(fix_book):
    from fix_app.models import FixCommand, FixExecution
    from orders_app.models import Order, OrderEvent

    venue, portfolio = fix_book
    a, b = _sent_orders(venue, portfolio, 2, tag="ra")
    memory = _known(venue, [a, b])
    ack_a = _ack(a, exec_id="EACK-A")

    answers = _receive(venue, [ack_a, _ack(b), ack_a], memory)
    again = _receive(venue, [ack_a, _ack(a)], memory)  # the same ExecID, then another 8/0 on an order already ACCEPTED

    assert [x.outcome for x in answers] == ["applied", "applied", "duplicate"]
    assert [x.outcome for x in again] == ["duplicate", "applied"]
    for child in (a, b):
        assert Order.objects.get(pk=child.pk).status == "ACCEPTED"
        assert OrderEvent.objects.filter(order_id=child.pk, to_status="ACCEPTED").count() == 1
    assert FixExecution.objects.filter(venue=venue, exec_id="EACK-A").count() == 1
    assert set(FixCommand.objects.filter(venue=venue).values_list("state", flat=True)) == {"acked"}


def test_outbox_claim_new_when_a_wake_up_names_new_orders_then_only_those_still_pending_at_venues_that_may_trade_are_claimed(fix_book):
    from desk import riskstamp
    from fix_app.client import FixVenueClient
    from fix_app.models import FixCommand
    from fix_app.services import command_withdraw, commands_claim_new
    from market_app.clock import get_clock
    from market_app.models import Instrument
    from orders_app import services, states
    from orders_app.models import Order
    from orders_app.working import execution_order

    venue, portfolio = fix_book
    inst = Instrument.objects.get(symbol="KO")
    client = FixVenueClient(venue=venue, clock=get_clock().market_now)
    for i in range(3):
        child, _ = services.order_create(client_order_id=f"cn-{i}", portfolio_id=portfolio.pk, instrument_id=inst.pk,
                                         side="BUY", quantity=Decimal(10), venue_id=venue.pk)
        services.order_apply_event(order_id=child.pk, event=states.SUBMITTED)
        eo = execution_order(Order.objects.select_related("instrument", "venue").get(pk=child.pk))
        stamp = riskstamp.sign(client_order_id=eo.client_order_id, side=eo.side, symbol=eo.symbol, quantity=eo.quantity,
                               limit_price=eo.limit_price)
        with transaction.atomic():
            client.submit(execution_order(Order.objects.select_related("instrument", "venue").get(pk=child.pk), stamp=stamp))
    ids = list(FixCommand.objects.filter(venue=venue).order_by("id").values_list("id", flat=True))
    with transaction.atomic():  # cancelled before it was sent: a wake-up that still names it must not send it
        command_withdraw(FixCommand.objects.select_for_update().get(pk=ids[0]), why="cancelled before it was sent")

    assert commands_claim_new(ids=ids, venue_ids=[], venues={venue.pk: venue}) == []  # the venue not logged on
    claimed = commands_claim_new(ids=[*ids, 10**9], venue_ids=[venue.pk], venues={venue.pk: venue})

    assert [c.pk for c in claimed] == ids[1:]
    assert all(c.state == "sent" and c.venue is venue and c.order.client_order_id == c.cl_ord_id for c in claimed)
    assert dict(FixCommand.objects.filter(pk__in=ids).values_list("id", "state")) == {ids[0]: "failed", ids[1]: "sent", ids[2]: "sent"}
    assert commands_claim_new(ids=ids, venue_ids=[venue.pk], venues={venue.pk: venue}) == []  # claimed once
