"""The one live channel per browser: authenticated, push-only (STYLE.md rule 10).

Each group message's ``type`` (``fill.created``) is handled by the method of
that name (``fill_created``), which forwards it to the browser unchanged:
``{"type", "seq", "group", "data"}``.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from desk import groups, metrics, roles
from desk.events import EVENT_TYPES
from portfolio_app.selectors import portfolio_ids_visible_to

CLOSE_UNAUTHENTICATED = 4401
# An admin changed this user's access (deactivated them, changed their roles or portfolios): the socket closes and
# the browser reconnects with what the user may now see - or is sent to the login page (4401) when they may see nothing.
CLOSE_ACCESS_CHANGED = 4001


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

    async def forward(self, message):
        await self.send_json(message)

    async def access_changed(self, message):
        await self.send_json(message)
        await self.close(code=CLOSE_ACCESS_CHANGED)


for _event_type in EVENT_TYPES:
    if not hasattr(DeskConsumer, _event_type.replace(".", "_")):
        setattr(DeskConsumer, _event_type.replace(".", "_"), DeskConsumer.forward)
