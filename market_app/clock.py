"""The desk's one clock instance, anchored in the database so every process agrees."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.utils import timezone

from desk.interfaces import Clock

_lock = threading.Lock()
_cached: tuple[float, Clock] | None = None
_override: Clock | None = None
ANCHOR_TTL_S = 30.0


def anchor_get_or_create():
    from market_app.models import MarketClockAnchor

    cfg = settings.DESK_CLOCK
    anchor, _ = MarketClockAnchor.objects.get_or_create(
        key="default",
        defaults={
            "start_market_date": cfg["start"],
            "seconds_per_session": float(cfg["seconds_per_session"]),
            "wall_epoch": timezone.now(),
        },
    )
    return anchor


def anchor_set(*, start_market_date, seconds_per_session: float, wall_epoch):
    """Re-anchor the desk's clock (every process picks it up within ``ANCHOR_TTL_S``; this one at once)."""
    from market_app.models import MarketClockAnchor

    anchor, _ = MarketClockAnchor.objects.update_or_create(key="default", defaults={
        "start_market_date": start_market_date, "seconds_per_session": float(seconds_per_session), "wall_epoch": wall_epoch,
    })
    set_clock(None)
    return anchor


def clock_from_anchor(anchor) -> Clock:
    from desk.clock import clock_from_settings

    cfg = dict(settings.DESK_CLOCK)
    cfg.update(
        {
            "start": anchor.start_market_date.isoformat() if hasattr(anchor.start_market_date, "isoformat") else anchor.start_market_date,
            "seconds_per_session": anchor.seconds_per_session,
            "wall_epoch": anchor.wall_epoch.isoformat(),
        }
    )
    return clock_from_settings(cfg)


def get_clock() -> Clock:
    """The configured clock. Tests and benchmarks may ``set_clock`` a stepped one."""
    global _cached
    if _override is not None:
        return _override
    now = time.monotonic()
    with _lock:
        if _cached is None or now - _cached[0] > ANCHOR_TTL_S:
            _cached = (now, clock_from_anchor(anchor_get_or_create()))
        return _cached[1]


def set_clock(clock: Clock | None) -> None:
    """Install a clock for this process (tests, benchmarks, backtests); ``None`` restores the default."""
    global _override, _cached
    _override = clock
    _cached = None
