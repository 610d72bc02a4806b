"""Risk state. Limits, checks and alerts are added by the risk issue."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from execution_app.interfaces import TradingState


class TradingStateRecord(models.Model):
    """The kill switch, desk-wide (``portfolio`` null) or per portfolio.

    One row per scope; changed only through ``risk_app.services``.
    """

    scope = models.CharField(max_length=32, unique=True, help_text='"desk" or "portfolio:<id>"')
    portfolio = models.OneToOneField(
        "portfolio_app.Portfolio", null=True, blank=True, on_delete=models.CASCADE, related_name="trading_state"
    )
    state = models.CharField(
        max_length=10, choices=[(s.value, s.value) for s in TradingState], default=TradingState.ACTIVE.value
    )
    reason = models.TextField(blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.portfolio_id or 'desk'}: {self.state}"
