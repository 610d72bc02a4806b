"""event_publish -> a connected websocket client through a real uvicorn server: p50/p99."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time

from django.db import transaction

N_EVENTS = 1000


def _percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run():
    import websockets
    from django.contrib.auth import get_user_model
    from django.test import Client

    from desk import groups, roles
    from ops_app.accounts import desk_user_create
    from desk.events import event_publish
    from tests.live_stack import LiveStack

    user, _, _ = desk_user_create(username="bench-ws", role=roles.RISK_OFFICER, password="bench-password-123")
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    received: dict[int, float] = {}
    ready = threading.Event()
    done = threading.Event()

    with LiveStack(beat=False, worker=False) as stack:
        url = stack.url.replace("http", "ws") + "/ws/desk/"

        async def listen():
            async with websockets.connect(url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": stack.url}) as ws:
                await ws.recv()  # hello
                ready.set()
                while len(received) < N_EVENTS:
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    except asyncio.TimeoutError:
                        break
                    if msg.get("type") == "order.updated" and "bench_i" in msg.get("data", {}):
                        received[msg["data"]["bench_i"]] = time.perf_counter()
            done.set()

        thread = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
        thread.start()
        ready.wait(30)
        sent = {}
        for i in range(N_EVENTS):
            sent[i] = time.perf_counter()
            with transaction.atomic():
                event_publish(event_type="order.updated", payload={"bench_i": i}, groups=[groups.RISK])
            time.sleep(0.002)  # a steady stream, not a burst queued behind itself
        done.wait(30)
    get_user_model().objects.filter(username="bench-ws").delete()
    lat = [(received[i] - sent[i]) * 1000 for i in received]
    if not lat:
        return [{"name": "events.publish_to_websocket", "value": float("nan"), "unit": "ms", "note": "nothing received"}]
    return [
        {"name": "events.publish_to_websocket_p50", "value": statistics.median(lat), "unit": "ms", "goal": "<= 5",
         "note": f"{len(lat)}/{N_EVENTS} received; commit -> Redis INCR -> group_send -> uvicorn -> client"},
        {"name": "events.publish_to_websocket_p99", "value": _percentile(lat, 0.99), "unit": "ms"},
    ]
