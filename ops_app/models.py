"""Operations: the desk's own alert rules, their webhook deliveries, the audit of rollout switches, and
gradual rollouts of strategy configurations (stages, sign-offs, shadow runs).

Tables keep the names they had in ``risk_app`` (``db_table``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from desk.lifecycle import LifecycleModel

from risk_app.models import Alert

USER = settings.AUTH_USER_MODEL


class AlertRule(models.Model):
    """A condition the desk evaluates itself every few seconds (``ops_app.alert_rules``).

    ``threshold`` is in the kind's unit (``AlertRule.UNITS``); ``window_minutes`` is the
    look-back of the rate, latency and stall kinds.  Alerts it raises are keyed
    ``rule:<id>:<subject>``, so one rule can hold several (one per queue, worker, limit).
    """

    class Kind(models.TextChoices):
        ERROR_RATE = "error_rate", "Error rate over N% for M minutes"
        P99_LATENCY = "p99_latency", "p99 request latency over a threshold"
        QUEUE_DEPTH = "queue_depth", "Celery queue depth over a threshold"
        WORKER_MISSING = "worker_missing", "A Celery worker stopped answering"
        REDIS_UNREACHABLE = "redis_unreachable", "Redis unreachable"
        DATABASE_UNREACHABLE = "database_unreachable", "Database unreachable"
        FILLS_STALLED = "fills_stalled", "Orders open but no fill for N minutes (in session)"
        LIMIT_UTILISATION = "limit_utilisation", "A limit's utilisation over N%"
        KILL_SWITCH = "kill_switch", "Trading state not ACTIVE"
        TASK_AGE = "task_age", "A queue's oldest waiting task older than N s"
        PROCESS_SILENT = "process_silent", "A web process, worker or beat silent for N s"
        DISK_FREE = "disk_free", "Disk free under N%"
        REDIS_MEMORY = "redis_memory", "Redis memory over N% of maxmemory"
        DB_CONNECTIONS = "db_connections", "Database connections over N% of max_connections"
        BACKUP_STALE = "backup_stale", "Last good backup older than N x the backup interval"
        ROLLOUT_SLIPPAGE = "rollout_slippage", "Canary slippage worse than the incumbent's by N bps"
        ROLLOUT_REJECT_RATE = "rollout_reject_rate", "Canary reject rate above the incumbent's by N points"
        ROLLOUT_TRACKING_ERROR = "rollout_tracking_error", "Canary tracking error against the incumbent over N bps"
        ROLLOUT_RISK_BREACHES = "rollout_risk_breaches", "Canary risk breaches per 100 orders above the incumbent's by N"

    UNITS = {
        "error_rate": "% of requests", "p99_latency": "ms", "queue_depth": "messages", "worker_missing": "s since last answer",
        "redis_unreachable": "", "database_unreachable": "", "fills_stalled": "", "limit_utilisation": "% of threshold",
        "kill_switch": "", "task_age": "s waiting", "process_silent": "s since last report", "disk_free": "% free",
        "redis_memory": "% of maxmemory", "db_connections": "% of max_connections", "backup_stale": "x the interval",
        "rollout_slippage": "bps", "rollout_reject_rate": "percentage points", "rollout_tracking_error": "bps a year",
        "rollout_risk_breaches": "per 100 orders",
    }

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=8, choices=Alert.Severity.choices, default=Alert.Severity.WARNING)
    threshold = models.FloatField(default=0, help_text="In the kind's unit (see UNITS); ignored by the on/off kinds.")
    window_minutes = models.PositiveIntegerField(default=5, help_text="Look-back of error rate, p99 latency and fills stalled.")
    params = models.JSONField(default=dict, blank=True, help_text='e.g. {"min_requests": 20}, {"ping_timeout": 1.0}; '
                                                                  '{"for_s": 60}: fires only once true that long')
    webhook_url = models.URLField(blank=True, help_text="Deliveries of this rule's alerts; empty: DESK_ALERT_WEBHOOK_URL.")
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(table_name="risk_app_historicalalertrule")

    class Meta:
        ordering = ["kind", "name"]
        db_table = "risk_app_alertrule"

    def __str__(self) -> str:
        return self.name

    @property
    def key_prefix(self) -> str:
        return f"rule:{self.pk}:"


class AlertDelivery(LifecycleModel):
    LIFECYCLE = "AlertDelivery"

    """One webhook delivery of one alert state change (raised or resolved), sent until it succeeds.

    ``idempotency_key`` (unique) is ``alert-<id>-<state>``: a state change makes at most
    one row, and the receiver gets the same key on every retry of it.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=8)
    url = models.URLField(max_length=500)
    idempotency_key = models.CharField(max_length=64, unique=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]
        db_table = "risk_app_alertdelivery"


class ModeChange(models.Model):
    """The audit of every live/shadow switch of a portfolio or an agent: who, when, from, to, why."""

    target = models.CharField(max_length=10, choices=[("portfolio", "portfolio"), ("agent", "agent")])
    target_id = models.BigIntegerField()
    target_name = models.CharField(max_length=128)
    from_mode = models.CharField(max_length=8)
    to_mode = models.CharField(max_length=8)
    actor = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["target", "target_id", "-ts"])]
        db_table = "risk_app_modechange"


class Backup(models.Model):
    """One backup of the database, made by the schedule (``ops_app.tasks.backup_scheduled``) or
    ``manage.py backup``: its file, size, SHA-256 and how long it took, or why it failed.

    Retention deletes the file of an old backup and keeps its row (``pruned_at``), so the list
    says what was made and what is still on disk.
    """

    class Status(models.TextChoices):
        OK = "ok"
        FAILED = "failed"

    status = models.CharField(max_length=8, choices=Status.choices)
    trigger = models.CharField(max_length=16, default="schedule", help_text="schedule or command")
    vendor = models.CharField(max_length=16)
    path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    duration_s = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.path} ({self.status})"


# The history of the objects admins manage whose apps ops_app may not add tables to (ops_app.audit):
# their historical tables live here.  Registered at import, so the migrations see them.
def _register_managed_history() -> None:
    import simple_history
    from django.contrib.auth import get_user_model

    from ops_app.audit import AuditedHistory, PortfolioAuditFields, UserAuditFields
    from portfolio_app.models import Portfolio

    simple_history.register(
        Portfolio, app="ops_app", records_class=AuditedHistory, bases=[PortfolioAuditFields],
        excluded_fields=["peak_nav", "created_at"], quiet_fields=("cash", "peak_nav"),
        history_change_reason_field=models.TextField(null=True),
    )
    simple_history.register(
        get_user_model(), app="ops_app", records_class=AuditedHistory, bases=[UserAuditFields],
        excluded_fields=["password", "last_login"], quiet_fields=("password", "last_login"),
        history_change_reason_field=models.TextField(null=True),
    )

    from simple_history.signals import pre_create_historical_record

    from ops_app.audit import portfolio_extras, user_extras

    def extras(fill):
        def receiver(sender, instance, history_instance, **kwargs):
            for name, value in fill(instance).items():
                setattr(history_instance, name, value)
        return receiver

    pre_create_historical_record.connect(extras(portfolio_extras), sender=Portfolio.history.model, weak=False)
    pre_create_historical_record.connect(extras(user_extras), sender=get_user_model().history.model, weak=False)

    from django.db.models.signals import m2m_changed

    from ops_app.audit import related_changed

    # Traders added to a portfolio (or portfolios to a user) and roles given to a user, from anywhere.
    m2m_changed.connect(related_changed, sender=Portfolio.traders.through, weak=False, dispatch_uid="audit-portfolio-traders")
    m2m_changed.connect(related_changed, sender=get_user_model().groups.through, weak=False, dispatch_uid="audit-user-groups")


_register_managed_history()
from ops_app.eod.models import EodReport, EodSession  # noqa: E402,F401  (end-of-day reports: ops_app/eod/)
class Rollout(LifecycleModel):
    """A candidate strategy configuration going, over a set of whole portfolios, shadow (computed and
    recorded, never traded) -> canary (on the chosen portfolios) -> full, or rolled back.

    ``stage`` changes only through ``ops_app.rollout.stages`` (its table ``ROLLOUT``); each move to
    canary or full needs a risk officer's sign-off (``RolloutPromotion``).  ``incumbent_versions``
    is ``{portfolio id: the strategy version it ran before this rollout changed it}``: what a
    rollback restores.
    """

    LIFECYCLE = "Rollout"
    guarded_fields = ("stage",)
    guard_create = True

    class Stage(models.TextChoices):
        SHADOW = "shadow"
        CANARY = "canary"
        FULL = "full"
        ROLLED_BACK = "rolled_back"
        ABANDONED = "abandoned"

    name = models.CharField(max_length=128)
    candidate = models.JSONField(help_text="The strategy configuration rolled out: strategy, strategy_params, constraints.")
    portfolios = models.ManyToManyField("portfolio_app.Portfolio", related_name="+")
    canary = models.ManyToManyField("portfolio_app.Portfolio", related_name="+", blank=True)
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.SHADOW)
    incumbent_versions = models.JSONField(default=dict, blank=True)
    min_sample = models.PositiveIntegerField(default=20, help_text="Canary orders needed before the comparison counts.")
    min_window_minutes = models.PositiveIntegerField(default=60, help_text="Canary minutes needed before it counts.")
    reason = models.TextField()
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    stage_changed_at = models.DateTimeField(auto_now_add=True)
    canary_started_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.TextField(blank=True, help_text="Why it was rolled back or abandoned.")
    ended_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="Empty for an automatic rollback.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stage", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.stage})"


class RolloutPromotion(LifecycleModel):
    """A request to move a rollout to its next stage, decided by a risk officer who did not ask (four eyes)."""

    LIFECYCLE = "RolloutPromotion"
    guard_create = True

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="promotions")
    to_stage = models.CharField(max_length=12)
    canary_ids = models.JSONField(default=list, blank=True, help_text="To canary: the portfolios chosen.")
    reason = models.TextField()
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class RolloutShadowRun(models.Model):
    """One shadow computation of a rollout's candidate for one portfolio: recorded, never traded."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="shadow_runs")
    portfolio = models.ForeignKey("portfolio_app.Portfolio", on_delete=models.CASCADE, related_name="+")
    market_time = models.DateTimeField(null=True, blank=True)
    target_weights = models.JSONField(default=dict, blank=True)
    turnover = models.FloatField(null=True, blank=True)
    metrics_after = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
