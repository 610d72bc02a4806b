"""The one live channel per browser: authenticated, push-only (STYLE.md rule 10).

Each group message's ``type`` (``fill.created``) is handled by the method of
that name (``fill_created``), which forwards it to the browser unchanged:
``{"type", "seq", "group", "data"}``.
"""

from __future__ import annotations

import json
from collections import OrderedDict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.consumer import get_handler_name

from desk import groups, metrics, roles
from desk.events import EVENT_TYPES
from portfolio_app.selectors import portfolio_ids_visible_to

CLOSE_UNAUTHENTICATED = 4401
# An admin changed this user's access (deactivated them, changed their roles or portfolios): the socket closes and
# the browser reconnects with what the user may now see - or is sent to the login page (4401) when they may see nothing.
CLOSE_ACCESS_CHANGED = 4001
WIRE_CACHE_SIZE = 256


class _WireCache:
    """The JSON text of recent group messages, so an event reaching many sockets in one process
    is encoded once rather than once per socket.

    Keyed by ``(group, seq)``; a hit is used only when the message is equal to the one encoded
    (a sequence restarted by an emptied Redis must not replay an old text). Per process, a cache only.
    """

    def __init__(self, size: int = WIRE_CACHE_SIZE):
        self.size = size
        self._texts: OrderedDict[tuple, tuple[dict, str]] = OrderedDict()

    def text(self, message: dict) -> str:
        key = (message.get("group"), message.get("seq"))
        if key[1] is None:
            return json.dumps(message)
        hit = self._texts.get(key)
        if hit is not None and hit[0] == message:
            return hit[1]
        text = json.dumps(message)
        self._texts[key] = (message, text)
        if len(self._texts) > self.size:
            self._texts.popitem(last=False)
        return text


_wire = _WireCache()


def groups_for_user(user) -> list[str]:
    """Every group a user may listen to; anonymous users get none."""
    if not user or not user.is_authenticated:
        return []
    names = [groups.DESK] if roles.may_use_dashboard(user) else []
    names.append(groups.user(user.pk))
    names += [groups.role(r) for r in sorted(roles.roles_of(user))]
    if roles.has_role(user, roles.ADMIN, roles.RISK_OFFICER, roles.TRADER):
        names.append(groups.SIGNALS)
    names += [groups.portfolio(pid) for pid in portfolio_ids_visible_to(user)]
    return names


class DeskConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.groups_joined = await database_sync_to_async(groups_for_user)(user)
        for name in self.groups_joined:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()
        metrics.websocket_connections.inc()
        self.counted = True
        await self.send_json({"type": "hello", "groups": self.groups_joined})

    async def disconnect(self, code):
        if getattr(self, "counted", False):
            metrics.websocket_connections.dec()
            self.counted = False
        for name in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Push-only: the browser reads over HTTP and acts over HTTP.
        return

    async def dispatch(self, message):
        # A group event touches no database (its handler forwards text, or closes the socket): skip the thread hop to close
        # stale connections that channels makes before every handler (per message, per socket).
        if message.get("type") in EVENT_TYPES:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    async def forward(self, message):
        await self.send(text_data=_wire.text(message))

    async def access_changed(self, message):
        await self.send_json(message)
        await self.close(code=CLOSE_ACCESS_CHANGED)


for _event_type in EVENT_TYPES:
    if not hasattr(DeskConsumer, _event_type.replace(".", "_")):
        setattr(DeskConsumer, _event_type.replace(".", "_"), DeskConsumer.forward)
