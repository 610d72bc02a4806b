"""ASGI entry point: HTTP to Django, websockets to Channels (authenticated sessions)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope, receive, send):
    """The router, plus the ASGI lifespan: from the server's startup to its shutdown, this web
    process reports its own CPU and memory to Redis (ops_app.resources); shutdown removes it."""
    if scope["type"] != "lifespan":
        return await router(scope, receive, send)
    from ops_app.resources import reporter_start, reporter_stop

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            reporter_start(role="web")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            reporter_stop()
            _metrics_process_dead()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _metrics_process_dead() -> None:
    """This process's live gauges (open websockets) leave the sum that the other processes serve."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
