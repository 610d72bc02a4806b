"""Fan-out: one fill reaches every websocket of its portfolio, once each, in order, through the real
Redis channel layer; the consumer's wire text is the message as JSON."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from config.asgi import application
from desk import groups

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 100
FILLS = 20


async def _connect(cookie):
    comm = WebsocketCommunicator(
        application, "/ws/desk/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await comm.connect(timeout=10)
    assert connected
    await comm.receive_json_from(timeout=10)  # hello
    return comm


@pytest.mark.asyncio
async def test_fill_fanout_when_hundred_clients_watch_a_portfolio_then_each_receives_every_fill_once_in_order(client, make_user):
    from desk import roles
    from desk.interfaces import FillReport, LiquiditySide, Side
    from market_app.models import Instrument
    from orders_app import services
    from portfolio_app.models import Portfolio

    @sync_to_async
    def setup():
        trader = make_user("fan", roles.TRADER)
        inst, _ = Instrument.objects.get_or_create(symbol="FANOUT", defaults={"adv": 1_000_000})
        book = Portfolio.objects.create(name="Fan-out", cash=D("1000000000.00"))
        book.traders.add(trader)
        order, _ = services.order_create(client_order_id="fan-1", portfolio_id=book.pk, instrument_id=inst.pk,
                                         side="BUY", quantity=D(1000))
        services.order_apply_event(order_id=order.pk, event="SUBMITTED")
        client.force_login(trader)
        return client.cookies["sessionid"].value, order, book.pk

    cookie, order, portfolio_id = await setup()
    comms = await asyncio.gather(*[_connect(cookie) for _ in range(CLIENTS)])

    @sync_to_async
    def fill_all():
        for i in range(FILLS):
            with transaction.atomic():
                services.fill_apply(order_id=order.pk, report=FillReport(
                    f"fan-{i}", order.client_order_id, "", "FANOUT", Side.BUY, D(1), D("100.00"), D("0.01"),
                    LiquiditySide.TAKER, datetime.now(UTC)))

    await fill_all()

    async def messages_of(comm):
        got = []
        while sum(m["type"] == "fill.created" for m in got) < FILLS:
            got.append(await comm.receive_json_from(timeout=10))
        while not await comm.receive_nothing(timeout=0.3):  # the last fill's order.updated
            got.append(await comm.receive_json_from(timeout=1))
        return got

    received = await asyncio.gather(*[messages_of(c) for c in comms])
    await asyncio.gather(*[c.disconnect() for c in comms])
    for got in received:
        assert [m["data"]["trade_id"] for m in got if m["type"] == "fill.created"] == [f"fan-{i}" for i in range(FILLS)]
        assert {m["group"] for m in got} == {groups.portfolio(portfolio_id)}
        seqs = [m["seq"] for m in got]  # fills and order updates share the group's sequence: no gap, no repeat
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(got == received[0] for got in received)  # every socket got the same messages


def test_wire_text_when_same_group_and_seq_with_other_data_then_encodes_the_new_message():
    from execution_app.consumers import _WireCache

    wire = _WireCache(size=2)
    first = {"type": "fill.created", "seq": 1, "group": "portfolio.1", "data": {"trade_id": "a", "last_px": "1.50"}}
    assert json.loads(wire.text(first)) == first
    assert wire.text(dict(first)) == wire.text(first)
    restarted = {**first, "data": {"trade_id": "b", "last_px": "2.00"}}  # a sequence restarted by an emptied Redis
    assert json.loads(wire.text(restarted)) == restarted
    for seq in (2, 3, 4):  # bounded: the oldest entries go
        wire.text({**first, "seq": seq})
    assert len(wire._texts) == 2
