"""FIX sessions, the command outbox, ClOrdID chains, applied execution reports, sequence resets,
reconciliation runs and breaks.

The outbox (``FixCommand``) is written in the transaction that decides a command, so a command is
persisted before anything is sent; the gateway sends it (pending -> sent), and the venue's answer on
its ClOrdID acknowledges it (sent -> acked). Every ClOrdID the desk used for an order, and the one
the venue has live, is in ``ClOrdLink``: a report on any ClOrdID of the chain finds its order.
``FixExecution`` holds every report received, unique by (venue, ExecID), so a repeat (PossDup,
PossResend) is applied once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

QTY = {"max_digits": 20, "decimal_places": 4}
PRICE = {"max_digits": 20, "decimal_places": 6}
MONEY = {"max_digits": 20, "decimal_places": 2}


class FixSession(models.Model):
    """The gateway's view of one venue's session: what the venue page shows."""

    venue = models.OneToOneField("orders_app.Venue", on_delete=models.CASCADE, related_name="fix_session")
    logged_on = models.BooleanField(default=False)
    down_since = models.DateTimeField(null=True, blank=True, help_text="Wall time the session went down (or the gateway started without it).")
    next_sender_seq = models.PositiveIntegerField(null=True, blank=True)
    next_target_seq = models.PositiveIntegerField(null=True, blank=True)
    loaded_at = models.DateTimeField(null=True, blank=True, help_text="When the gateway (re)loaded its sessions with these settings.")
    settings_digest = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True)
    # The gateway's journal of reports received (fix_app.gateway.Journal): which file, and how far it is applied.
    journal_gen = models.PositiveIntegerField(default=0)
    journal_offset = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["venue"]

    def __str__(self) -> str:
        return f"{self.venue_id} {'up' if self.logged_on else 'down'}"


class FixCommand(models.Model):
    """One order command for a venue, persisted before it is sent (the outbox)."""

    class Kind(models.TextChoices):
        NEW = "new", "NewOrderSingle (D)"
        CANCEL = "cancel", "OrderCancelRequest (F)"
        REPLACE = "replace", "OrderCancelReplaceRequest (G)"
        STATUS = "status", "OrderStatusRequest (H)"

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        ACKED = "acked"
        FAILED = "failed"

    venue = models.ForeignKey("orders_app.Venue", on_delete=models.PROTECT, related_name="fix_commands")
    order = models.ForeignKey("orders_app.Order", on_delete=models.CASCADE, related_name="fix_commands")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    cl_ord_id = models.CharField(max_length=100)
    orig_cl_ord_id = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(help_text="Served lowest first: cancels before replaces, status, new orders.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    seq_num = models.PositiveIntegerField(null=True, blank=True, help_text="MsgSeqNum it last went out with (a session Reject names it).")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        indexes = [models.Index(fields=["state", "priority", "id"], name="fixcommand_queue_idx"),
                   models.Index(fields=["venue", "cl_ord_id"], name="fixcommand_clordid_idx")]
        constraints = [
            models.UniqueConstraint(fields=["venue", "cl_ord_id"], condition=~models.Q(kind="status"), name="fixcommand_unique_clordid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.cl_ord_id} {self.state}"


class ClOrdLink(models.Model):
    """A ClOrdID the desk used for ``order`` at ``venue``; ``live`` marks the one the venue works now."""

    venue = models.ForeignKey("orders_app.Venue", on_delete=models.PROTECT, related_name="+")
    cl_ord_id = models.CharField(max_length=100)
    order = models.ForeignKey("orders_app.Order", on_delete=models.CASCADE, related_name="cl_ord_links")
    orig_cl_ord_id = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=8, choices=FixCommand.Kind.choices)
    live = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["venue", "cl_ord_id"], name="clordlink_unique")]

    def __str__(self) -> str:
        return f"{self.cl_ord_id} -> {self.order_id}"


class FixExecution(models.Model):
    """A report received from a venue (an 8, or a 9 keyed ``CXLREJ:<ClOrdID>``), once per (venue, ExecID)."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"  # the desk's order moved (or already was where the report says)
        BREAK = "break"  # not applied: a ReconciliationBreak says why
        UNKNOWN = "unknown"  # no order of the desk: answered with DontKnowTrade

    venue = models.ForeignKey("orders_app.Venue", on_delete=models.PROTECT, related_name="fix_executions")
    exec_id = models.CharField(max_length=100)
    order = models.ForeignKey("orders_app.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="fix_executions")
    msg_type = models.CharField(max_length=2)
    exec_type = models.CharField(max_length=2, blank=True)
    ord_status = models.CharField(max_length=2, blank=True)
    cl_ord_id = models.CharField(max_length=100, blank=True)
    orig_cl_ord_id = models.CharField(max_length=100, blank=True)
    exec_ref_id = models.CharField(max_length=100, blank=True)
    last_qty = models.DecimalField(**QTY, null=True, blank=True)
    last_px = models.DecimalField(**PRICE, null=True, blank=True)
    commission = models.DecimalField(**MONEY, null=True, blank=True)
    cum_qty = models.DecimalField(**QTY, null=True, blank=True)
    leaves_qty = models.DecimalField(**QTY, null=True, blank=True)
    trade_id = models.CharField(max_length=120, blank=True, help_text="The desk's Fill.trade_id for a trade: <venue>:<ExecID>.")
    transact_time = models.DateTimeField(null=True, blank=True)
    poss_dup = models.BooleanField(default=False)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    detail = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["venue", "exec_id"], name="fixexecution_unique_execid")]
        indexes = [models.Index(fields=["venue", "cl_ord_id"], name="fixexecution_clordid_idx")]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.exec_type or self.msg_type} {self.outcome}"


class FixSequenceReset(models.Model):
    """An admin's audited request to reset a session's sequence numbers; the gateway applies it."""

    venue = models.ForeignKey("orders_app.Venue", on_delete=models.PROTECT, related_name="fix_sequence_resets")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    next_sender_seq = models.PositiveIntegerField(default=1)
    next_target_seq = models.PositiveIntegerField(default=1)
    requested_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True, help_text='The numbers it replaced: {"sender": 812, "target": 640}.')

    class Meta:
        ordering = ["-requested_at", "-id"]


class ReconciliationRun(models.Model):
    """One comparison of a venue's open orders and positions with the desk's (``fix_app.recon_services``)."""

    class Trigger(models.TextChoices):
        LOGON = "logon"
        SCHEDULE = "schedule"
        BUTTON = "button"

    class Status(models.TextChoices):
        RUNNING = "running"
        CLEAN = "clean"
        BREAKS = "breaks"
        FAILED = "failed"
        TIMED_OUT = "timed_out", "timed out"

    venue = models.ForeignKey("orders_app.Venue", on_delete=models.PROTECT, related_name="reconciliation_runs")
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                     help_text="Who pressed the button (none for a logon or a scheduled run).")
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    venue_orders = models.PositiveIntegerField(default=0, help_text="Open orders the venue reported (8/I to the mass status request).")
    desk_orders = models.PositiveIntegerField(default=0, help_text="Desk orders compared: open at the venue by the desk's books, or named by it.")
    positions = models.PositiveIntegerField(default=0, help_text="Symbols compared (the venue's position reports and the desk's fills there).")
    fills_recovered = models.PositiveIntegerField(default=0, help_text="Fills the venue re-sent during the run (resend, gap fill) and the desk applied.")
    breaks = models.PositiveIntegerField(default=0, help_text="Differences found (an open break found again is not recorded twice).")
    detail = models.TextField(blank=True, help_text="Why it failed or timed out.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["venue", "status"], name="reconrun_venue_status_idx")]

    def __str__(self) -> str:
        return f"{self.venue_id} {self.trigger} {self.status}"

    @property
    def duration_ms(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() * 1000 if self.finished_at else None


class ReconciliationBreak(models.Model):
    """A difference between a venue and the desk that was not applied: what, where, and how it was resolved."""

    class Kind(models.TextChoices):
        QTY_MISMATCH = "qty_mismatch", "CumQty / LeavesQty differ"
        STATUS_MISMATCH = "status_mismatch", "OrdStatus differs"
        OUT_OF_ORDER = "out_of_order", "Report out of order"
        IMPOSSIBLE = "impossible", "Impossible report"
        UNKNOWN_ORDER = "unknown_order", "Unknown ClOrdID"
        MALFORMED = "malformed", "Malformed message"
        BUST = "bust", "Trade busted"
        CORRECT = "correct", "Trade corrected"
        POSITION = "position", "Position differs"
        MISSING_FILL = "missing_fill", "Fill missing at the desk"

    venue = models.ForeignKey("orders_app.Venue", on_delete=models.PROTECT, related_name="reconciliation_breaks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    order = models.ForeignKey("orders_app.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey(ReconciliationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="found",
                            help_text="The reconciliation run that found it (none: found on a report as it arrived).")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    help_text="Who resolved it (none: settled by the desk itself, e.g. a bust applied).")
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["venue", "resolved_at"], name="break_open_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.venue_id} {'resolved' if self.resolved_at else 'open'}"
