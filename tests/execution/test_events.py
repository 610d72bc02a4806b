"""The event publisher: after commit only, sequence numbers per group, and only to allowed users."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from config.asgi import application
from desk import groups
from desk.events import event_publish, next_sequence

pytestmark = pytest.mark.django_db(transaction=True)


async def _listen(group):
    from tests.layer_inbox import Inbox

    inbox = await Inbox.listen(group)
    return inbox, inbox.channel


async def _receive_or_none(inbox, channel, timeout=0.5):
    return await inbox.get(timeout)  # a timed-out layer.receive would unsubscribe the channel (pub/sub layer)


@pytest.mark.asyncio
async def test_event_publish_when_transaction_rolls_back_then_nothing_pushed():
    layer, channel = await _listen("test.rollback")

    @sync_to_async
    def publish_and_roll_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            event_publish(event_type="fill.created", payload={"x": 1}, groups=["test.rollback"])
            raise RuntimeError("the fill never happened")

    await publish_and_roll_back()
    assert await _receive_or_none(layer, channel) is None


@pytest.mark.asyncio
async def test_event_publish_when_committed_then_pushed_with_increasing_sequence():
    layer, channel = await _listen("test.seq")

    @sync_to_async
    def publish_three():
        for i in range(3):
            with transaction.atomic():
                event_publish(event_type="order.updated", payload={"i": i}, groups=["test.seq"])

    await publish_three()
    msgs = [await _receive_or_none(layer, channel, 2) for _ in range(3)]
    assert [m["data"]["i"] for m in msgs] == [0, 1, 2]
    seqs = [m["seq"] for m in msgs]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[1] == seqs[0] + 1


def test_event_publish_when_unknown_type_then_refused():
    with pytest.raises(ValueError):
        event_publish(event_type="fill.maybe", payload={}, groups=["x"])


def test_next_sequence_when_called_then_monotonic_per_group():
    a1, b1, a2 = next_sequence("test.a"), next_sequence("test.b"), next_sequence("test.a")
    assert a2 == a1 + 1 and b1 >= 1


def _session_cookie(client, user):
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _connect(cookie):
    comm = WebsocketCommunicator(
        application, "/ws/desk/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    return comm, hello


@pytest.mark.asyncio
async def test_consumer_when_trader_connected_then_receives_only_own_portfolio_events(client, make_user):
    from desk import roles
    from portfolio_app.models import Portfolio

    @sync_to_async
    def setup():
        t = make_user("tw", roles.TRADER)
        mine = Portfolio.objects.create(name="Mine", cash=1)
        other = Portfolio.objects.create(name="Other", cash=1)
        mine.traders.add(t)
        return _session_cookie(client, t), mine.pk, other.pk

    cookie, mine, other = await setup()
    comm, hello = await _connect(cookie)
    assert groups.portfolio(mine) in hello["groups"] and groups.portfolio(other) not in hello["groups"]

    @sync_to_async
    def publish():
        with transaction.atomic():
            event_publish(event_type="fill.created", payload={"n": "other"}, groups=[groups.portfolio(other)])
            event_publish(event_type="fill.created", payload={"n": "mine"}, groups=[groups.portfolio(mine)])

    await publish()
    msg = await comm.receive_json_from(timeout=5)
    assert msg["type"] == "fill.created" and msg["data"] == {"n": "mine"} and msg["group"] == groups.portfolio(mine)
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


@pytest.mark.asyncio
async def test_consumer_when_risk_officer_connected_then_sees_every_portfolio(client, make_user):
    from desk import roles
    from portfolio_app.models import Portfolio

    @sync_to_async
    def setup():
        r = make_user("rw", roles.RISK_OFFICER)
        a = Portfolio.objects.create(name="A", cash=1)
        b = Portfolio.objects.create(name="B", cash=1)
        return _session_cookie(client, r), a.pk, b.pk

    cookie, a, b = await setup()
    comm, hello = await _connect(cookie)
    assert {groups.portfolio(a), groups.portfolio(b), groups.DESK, groups.RISK} <= set(hello["groups"])
    await comm.disconnect()


@pytest.mark.asyncio
async def test_event_publish_when_ticks_burst_then_conflated_to_few_pushes_with_latest_values():
    layer, channel = await _listen("test.ticks")

    @sync_to_async
    def burst():
        for i in range(50):
            with transaction.atomic():
                event_publish(event_type="price.tick", payload={"ticks": {"AAA": {"px": str(i)}, f"S{i % 3}": {"px": str(i)}}}, groups=["test.ticks"])

    await burst()
    msgs = []
    while (m := await _receive_or_none(layer, channel, 0.5)) is not None:
        msgs.append(m)
    assert 1 <= len(msgs) < 50
    # The last push carries the latest value of every symbol seen since the one before.
    assert msgs[-1]["data"]["ticks"]["AAA"]["px"] == "49"
    seen = {}
    for m in msgs:
        seen.update(m["data"]["ticks"])
    assert {k: v["px"] for k, v in seen.items()} == {"AAA": "49", "S0": "48", "S1": "49", "S2": "47"}


@pytest.mark.asyncio
async def test_event_publish_when_signals_burst_then_every_signal_arrives_in_batches():
    layer, channel = await _listen("test.signals")

    @sync_to_async
    def burst():
        for i in range(30):
            with transaction.atomic():
                event_publish(event_type="signal.received", payload={"i": i}, groups=["test.signals"])

    await burst()
    items = []
    while (m := await _receive_or_none(layer, channel, 0.5)) is not None:
        items.extend(m["data"]["items"])
    assert [x["i"] for x in items] == list(range(30))


@pytest.mark.asyncio
async def test_event_publish_many_when_committed_then_each_pushed_in_order_with_its_own_sequence_and_none_on_rollback():
    from desk.events import event_publish_many

    layer, channel = await _listen("test.many")

    @sync_to_async
    def publish():
        with pytest.raises(RuntimeError), transaction.atomic():
            event_publish_many(event_type="order.updated", payloads=[{"i": -1}], group="test.many")
            raise RuntimeError("rolled back")
        with transaction.atomic():
            event_publish(event_type="order.updated", payload={"i": 0}, groups=["test.many"])
            event_publish_many(event_type="order.updated", payloads=[{"i": i} for i in range(1, 6)], group="test.many")

    await publish()
    msgs = [await _receive_or_none(layer, channel, 2) for _ in range(6)]
    assert [m["data"]["i"] for m in msgs] == [0, 1, 2, 3, 4, 5]
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + 6))  # no gap, no repeat: the group's one sequence
    assert await _receive_or_none(layer, channel) is None
    from django.db import connections

    await sync_to_async(connections.close_all)()  # the test database is dropped after: no session of ours left on it


def test_event_publish_many_when_a_conflated_type_then_refused():
    from desk.events import event_publish_many

    with pytest.raises(ValueError):
        event_publish_many(event_type="price.tick", payloads=[{}], group="test.many")
