"""Reading a channel-layer channel with timeouts, for tests and benchmarks.

The pub/sub channel layer (``channels_redis.pubsub``) unsubscribes a channel when a ``receive`` on it is
cancelled - as ``asyncio.wait_for(layer.receive(ch), timeout)`` does on a timeout - so every message after
the first quiet moment would be lost. ``Inbox.get`` waits on one pending ``receive`` and leaves it running
on a timeout; the next ``get`` goes on waiting for the same one.
"""

from __future__ import annotations

import asyncio


class Inbox:
    def __init__(self, layer, channel: str):
        self.layer, self.channel = layer, channel
        self._pending: asyncio.Future | None = None

    @classmethod
    async def listen(cls, *groups: str) -> "Inbox":
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        channel = await layer.new_channel()
        for g in groups:
            await layer.group_add(g, channel)
        return cls(layer, channel)

    async def get(self, timeout: float):
        """The next message, or None after ``timeout`` seconds (the channel stays subscribed)."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.layer.receive(self.channel))
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return None
        fut, self._pending = self._pending, None
        return fut.result()

    async def drain(self, quiet: float) -> list:
        """Every message until none comes for ``quiet`` seconds."""
        got = []
        while (m := await self.get(quiet)) is not None:
            got.append(m)
        return got

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            try:
                await self._pending
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing
                pass
            self._pending = None


class SyncInbox:
    """``Inbox`` for synchronous code: its loop runs in a thread of its own for the inbox's life (the pub/sub
    layer keeps a connection and its subscriptions per event loop, so every read must use the same loop)."""

    def __init__(self, *groups: str):
        import threading

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="test-inbox", daemon=True).start()
        self._inbox = self._run(Inbox.listen(*groups))

    def _run(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def get(self, timeout: float):
        return self._run(self._inbox.get(timeout))

    def close(self) -> None:
        self._run(self._inbox.close(), 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
