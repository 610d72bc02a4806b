"""End-of-day reports: one frozen document per session and scope (a portfolio, or the desk), versioned.

A report's ``content`` is written once, with the SHA-256 of its canonical JSON (``core.content_hash``);
nothing updates it afterwards. A regeneration is a new row with the next ``version`` beside the old ones.
``EodSession`` freezes what "the day" of a session is, once, for every scope and version: its market
open and close, and the wall-time window that records stamped only with wall time (denials, approvals,
limit changes, kill-switch changes) are read from.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL


class EodSession(models.Model):
    session = models.DateField(unique=True)
    market_open = models.DateTimeField()
    market_close = models.DateTimeField()
    # Wall-time window of the day (start exclusive, end inclusive); a null start: everything before the end.
    wall_start = models.DateTimeField(null=True, blank=True)
    wall_end = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-session"]

    def __str__(self) -> str:
        return self.session.isoformat()


class EodReport(models.Model):
    class Scope(models.TextChoices):
        PORTFOLIO = "portfolio", "Portfolio"
        DESK = "desk", "Desk"

    class Trigger(models.TextChoices):
        CLOSE = "close", "At the close"
        ON_DEMAND = "on_demand", "On demand"

    day = models.ForeignKey(EodSession, on_delete=models.PROTECT, related_name="reports")
    session = models.DateField()
    scope = models.CharField(max_length=12, choices=Scope.choices)
    # "desk" or "portfolio:<id>": one key for the uniqueness of (scope, session, version).
    scope_key = models.CharField(max_length=32)
    portfolio = models.ForeignKey("portfolio_app.Portfolio", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    requested_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-session", "scope", "scope_key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["scope_key", "session", "version"], name="eodreport_one_version"),
        ]
        indexes = [models.Index(fields=["session"], name="eodreport_session_idx")]

    def __str__(self) -> str:
        return f"EOD {self.scope_key} {self.session} v{self.version}"
