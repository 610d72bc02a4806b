"""The push thread (``desk.events.push_in_background``): what queued while it was busy goes out as one batch."""

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.asyncio
async def test_push_thread_when_a_commit_queues_several_pushes_then_one_sequence_trip_and_one_publisher_trip(monkeypatch):
    from desk import events
    from desk.redis import get_redis
    from tests.layer_inbox import Inbox

    inbox = await Inbox.listen("test.batch.a", "test.batch.b")
    pusher = events._Background(start=False)  # its thread held back: the queue fills as it would while it is busy
    monkeypatch.setattr(events, "_background", pusher)
    trips, redis_calls = [], []
    real_run = events._publisher.run
    monkeypatch.setattr(events._publisher, "run", lambda coro, timeout=5.0: (trips.append(1), real_run(coro, timeout))[1])
    redis = get_redis()
    monkeypatch.setattr(events, "get_redis", lambda: (redis_calls.append(1), redis)[1])

    @sync_to_async
    def commit_three_then_push():
        with transaction.atomic():
            events.event_publish(event_type="order.updated", payload={"i": 0}, groups=["test.batch.a"])
            events.event_publish(event_type="fill.created", payload={"i": 1}, groups=["test.batch.a", "test.batch.b"])
            events.event_publish(event_type="order.updated", payload={"i": 2}, groups=["test.batch.a"])
        pusher.drain_once()

    await commit_three_then_push()
    got = await inbox.drain(1.0)
    await inbox.close()
    by_group = {g: [(m["type"], m["data"]["i"], m["seq"]) for m in got if m["group"] == g] for g in ("test.batch.a", "test.batch.b")}
    a, b = by_group["test.batch.a"], by_group["test.batch.b"]
    assert [(t, i) for t, i, _ in a] == [("order.updated", 0), ("fill.created", 1), ("order.updated", 2)]
    assert [(t, i) for t, i, _ in b] == [("fill.created", 1)]
    assert [s for *_, s in a] == list(range(a[0][2], a[0][2] + 3))  # consecutive: no gap for a page to re-fetch
    assert len(trips) == 1 and len(redis_calls) == 1  # one publisher trip, one round trip for the sequence numbers


def test_push_thread_when_other_work_is_queued_between_pushes_then_run_in_order(monkeypatch):
    from desk import events

    pusher = events._Background(start=False)
    done = []
    monkeypatch.setattr(events, "send_batch", lambda pushes: done.append([p[1]["i"] for p in pushes]))
    pusher.queue.put(events._Push("order.updated", {"i": 0}, ("g",)))
    pusher.queue.put(events._Push("order.updated", {"i": 1}, ("g",)))
    pusher.queue.put(lambda: done.append("other"))
    pusher.queue.put(events._Push("order.updated", {"i": 2}, ("g",)))
    pusher.queue.put(lambda: 1 / 0)  # a failing item is logged, the rest still goes
    pusher.queue.put(events._Push("order.updated", {"i": 3}, ("g",)))
    pusher.drain_once()
    assert done == [[0, 1], "other", [2], [3]]
