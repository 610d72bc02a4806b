"""Execution app models: the shared market-clock anchor (agents, signals and runs come with their issues)."""

from __future__ import annotations

from django.db import models


class MarketClockAnchor(models.Model):
    """Where the replay clock started, shared by every process (ASGI, workers, beat).

    Without one stored anchor each process would start its own replay at its own
    boot time and disagree about the market's time.
    """

    key = models.CharField(max_length=16, unique=True, default="default")
    start_market_date = models.DateField()
    seconds_per_session = models.FloatField()
    wall_epoch = models.DateTimeField()

    def __str__(self) -> str:
        return f"replay from {self.start_market_date} at {self.seconds_per_session}s/session since {self.wall_epoch}"
