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
            _settle_heap()
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


def _settle_heap() -> None:
    """Load the URLconf (and the views it imports) now rather than on the first request, then move everything loaded
    so far out of the garbage collector's way (``gc.freeze``): a full collection over a heap this size takes tens of
    milliseconds, and otherwise lands, now and then, on some request (a signal POST's p99)."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imported for its side effect
    gc.collect()
    gc.freeze()
