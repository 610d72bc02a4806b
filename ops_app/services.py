"""Execution app services (writes and pushes)."""

from __future__ import annotations

import os
import socket

from django.utils import timezone

from desk import groups
from desk.events import event_publish


def heartbeat_publish() -> None:
    """The proof that worker -> Redis -> Channels -> browser works, every few seconds."""
    from market_app.clock import get_clock

    clock = get_clock()
    event_publish(
        event_type="heartbeat",
        payload={
            "ts": timezone.now(),
            "market_time": clock.market_now(),
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        },
        groups=[groups.DESK],
    )
