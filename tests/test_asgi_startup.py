"""The web process's start (ASGI lifespan): what it loads and settles before it takes a request."""

from __future__ import annotations

import asyncio
import gc


def test_lifespan_when_the_web_process_starts_then_the_urlconf_is_loaded_and_the_heap_is_frozen_out_of_the_collector():
    from config import asgi

    gc.unfreeze()
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    try:
        asyncio.run(asgi.application({"type": "lifespan"}, receive, send))
        # Frozen at startup: a full collection no longer walks what was loaded (it took tens of ms on some request).
        assert gc.get_freeze_count() > 10_000
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    finally:
        gc.unfreeze()
