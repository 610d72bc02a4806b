"""Risk state: limits (with history), four-eyes changes, the kill switch, checks and alerts.

Every row here is written only through ``risk_app.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from desk.interfaces import TradingState
from desk.lifecycle import LifecycleModel
from risk_app.checks import KINDS, SCOPES

USER = settings.AUTH_USER_MODEL
STATES = [(s.value, s.value) for s in TradingState]


class TradingStateRecord(LifecycleModel):
    """The kill switch, desk-wide (``portfolio`` null) or per portfolio.

    One row per scope; ``state`` changes only through the trading-state machine
    (``risk_app.states.TRADING_STATE``, applied in ``risk_app.services``).
    """

    LIFECYCLE = "TradingState"
    guarded_fields = ("state",)
    guard_create = True

    scope = models.CharField(max_length=32, unique=True, help_text='"desk" or "portfolio:<id>"')
    portfolio = models.OneToOneField(
        "portfolio_app.Portfolio", null=True, blank=True, on_delete=models.CASCADE, related_name="trading_state"
    )
    state = models.CharField(max_length=10, choices=STATES, default=TradingState.ACTIVE.value)
    reason = models.TextField(blank=True)
    set_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.portfolio_id or 'desk'}: {self.state}"


class TradingStateChange(models.Model):
    """The audit of every kill-switch change: from, to, who, why, and who confirmed a re-arm."""

    scope = models.CharField(max_length=32)
    from_state = models.CharField(max_length=10, choices=STATES)
    to_state = models.CharField(max_length=10, choices=STATES)
    actor = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    confirmed_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["scope", "-ts"])]


class TradingStateRearm(LifecycleModel):
    """A request to leave HALTED, waiting for a second risk officer (the latch; ``risk_app.states.REARM``)."""

    LIFECYCLE = "Rearm"
    guard_create = True

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"

    scope = models.CharField(max_length=32)
    to_state = models.CharField(max_length=10, choices=STATES)
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["scope"], condition=Q(status="pending"), name="rearm_one_pending_per_scope")
        ]


class RiskLimit(models.Model):
    """One limit (the ORM side of ``risk_app.checks.Limit``).

    ``scope_key``: the portfolio id, the instrument symbol or the agent id the
    limit applies to (empty for desk-wide).  ``change_reason`` /
    ``requested_by`` / ``approved_by`` describe the change that produced the
    current values, so each history row records who, why and who approved.
    """

    ACTIONS = [("block", "block"), ("warn", "warn")]

    name = models.CharField(max_length=128)
    scope = models.CharField(max_length=16, choices=[(s, s) for s in SCOPES], default="desk")
    scope_key = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=32, choices=[(k, info.label) for k, info in KINDS.items()])
    threshold = models.DecimalField(max_digits=24, decimal_places=6)
    action = models.CharField(max_length=5, choices=ACTIONS, default="block")
    enabled = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    change_reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        ordering = ["scope", "scope_key", "kind", "id"]
        indexes = [models.Index(fields=["enabled", "scope", "scope_key"])]

    def __str__(self) -> str:
        return self.name


class RiskLimitsVersion(models.Model):
    """One row: bumped in the same transaction as any limit change, so every worker's
    cached engine is rebuilt the moment the change commits (the token is the cache key)."""

    token = models.CharField(max_length=32)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)


class PendingLimitChange(LifecycleModel):
    """A loosening (raise, disable, delete, block -> warn) waiting for a second risk officer.

    ``status`` changes only through its four-eyes lifecycle (``risk_app.states.LIMIT_CHANGE``).
    """

    LIFECYCLE = "LimitChange"
    guard_create = True

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"

    class Op(models.TextChoices):
        UPDATE = "update"
        DELETE = "delete"

    limit = models.ForeignKey(RiskLimit, null=True, on_delete=models.SET_NULL, related_name="pending_changes")
    limit_name = models.CharField(max_length=128)
    op = models.CharField(max_length=8, choices=Op.choices, default=Op.UPDATE)
    before = models.JSONField(default=dict)
    proposed = models.JSONField(default=dict)
    reason = models.TextField()
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"])]


class RiskCheck(models.Model):
    """One pre-trade check result, kept with its order (or proposal) so a denial can be explained later.

    ``breaches``: ``[{limit_id, name, kind, action, threshold, value, reason}]`` (a value that
    could not be measured is ``null``); ``utilisation``: ``{limit id: value / threshold}``.
    """

    order = models.ForeignKey("orders_app.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_checks")
    proposal = models.ForeignKey(
        "portfolio_app.RebalanceProposal", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_checks"
    )
    portfolio = models.ForeignKey("portfolio_app.Portfolio", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    client_order_id = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=32, blank=True)
    side = models.CharField(max_length=4, blank=True)
    quantity = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    passed = models.BooleanField()
    breaches = models.JSONField(default=list)
    utilisation = models.JSONField(default=dict)
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["portfolio", "-ts"])]


class Alert(models.Model):
    """A raised condition, de-duplicated by ``key`` while active: raised once, updated, resolved."""

    class Severity(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        CRITICAL = "critical"

    class Status(models.TextChoices):
        ACTIVE = "active"
        RESOLVED = "resolved"

    kind = models.CharField(max_length=32)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    key = models.CharField(max_length=160)
    message = models.TextField()
    portfolio = models.ForeignKey("portfolio_app.Portfolio", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    limit = models.ForeignKey(RiskLimit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    value = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    count = models.PositiveIntegerField(default=1)
    acknowledged_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    raised_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["status", "-raised_at"])]
        constraints = [models.UniqueConstraint(fields=["key"], condition=Q(status="active"), name="alert_one_active_per_key")]


class RiskSnapshot(models.Model):
    """The latest live risk figures of a portfolio (exposure, VaR/CVaR, drawdown, limit utilisation)."""

    portfolio = models.OneToOneField("portfolio_app.Portfolio", on_delete=models.CASCADE, related_name="risk_snapshot")
    market_date = models.DateField(null=True)
    report = models.JSONField(default=dict)
    utilisation = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)


class DeskExposure(models.Model):
    """One desk book: the committed exposure of the portfolios that desk-wide limits measure together.

    ``key`` is ``"*"`` (every portfolio) or the sorted ids a limit names (``"3,12"``).  Its totals are
    the sum of its portfolios' ``DeskExposurePart`` rows, kept so by every writer under this row's lock
    (``risk_app.desk_book``); ``order_times`` are the epoch seconds of the orders admitted in the
    longest desk-wide rate window.
    """

    key = models.CharField(max_length=255, unique=True)
    gross = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    net = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    nav = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    pnl_today = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    order_times = models.JSONField(default=list, blank=True)
    marked_at = models.DateTimeField(null=True, blank=True, help_text="the last refresh from the whole book")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"desk book {self.key}"


class DeskExposurePart(models.Model):
    """One portfolio's share of the desk books, as last counted: gross and net (positions at the mark
    plus open orders' unfilled rest), NAV and today's P&L."""

    portfolio = models.OneToOneField("portfolio_app.Portfolio", on_delete=models.CASCADE, related_name="+")
    gross = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    net = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    nav = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    pnl_today = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    as_of = models.DateTimeField(auto_now=True)
