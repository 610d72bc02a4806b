"""Venues, orders (parents and children), their events, and fills.

An order's status changes only through ``orders_app.services.order_apply_event``
(the state machine in ``orders_app.states``); never assign ``status`` elsewhere.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from desk.lifecycle import LifecycleModel
from orders_app.states import OPEN_STATUSES  # noqa: F401  (Order.is_open)
from desk.interfaces import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce

PRICE = {"max_digits": 20, "decimal_places": 6}
MONEY = {"max_digits": 20, "decimal_places": 2}
QTY = {"max_digits": 20, "decimal_places": 4}


def _choices(enum_cls):
    return [(m.value, m.value) for m in enum_cls]


class Venue(models.Model):
    """A trading venue: how the desk reaches it (``kind``, and for FIX its session settings), and the
    parameters of DESIGN.md's paper-market conventions (the paper venue's matching; for any venue,
    what the router expects of it)."""

    class Kind(models.TextChoices):
        PAPER = "paper", "Paper (simulated in the desk)"
        FIX = "fix", "FIX 4.4 session"

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PAPER)
    fix_begin_string = models.CharField("BeginString", max_length=8, default="FIX.4.4")
    fix_sender_comp_id = models.CharField("SenderCompID", max_length=32, blank=True)
    fix_target_comp_id = models.CharField("TargetCompID", max_length=32, blank=True)
    fix_host = models.CharField("host", max_length=128, blank=True)
    fix_port = models.PositiveIntegerField("port", null=True, blank=True)
    fix_heartbeat_s = models.PositiveIntegerField("heartbeat (s)", default=30)
    reconciled = models.BooleanField(
        default=True, help_text="False from a session's logon until reconciliation matches the desk: the router skips it."
    )
    updated_at = models.DateTimeField(auto_now=True, null=True)
    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))
    maker_fee_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("0"))
    taker_fee_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("0"))
    min_fee = models.DecimalField(**MONEY, default=Decimal("0"))
    half_spread_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("1"))
    latency_ms = models.DecimalField(max_digits=10, decimal_places=3, default=Decimal("1"))
    impact_k = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0.1"))
    displayed_share = models.DecimalField(
        "share of the minute's volume displayed", max_digits=6, decimal_places=4, default=Decimal("0.1")
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code




class Order(LifecycleModel):
    LIFECYCLE = "Order"

    client_order_id = models.CharField(max_length=64, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    portfolio = models.ForeignKey("portfolio_app.Portfolio", on_delete=models.PROTECT, related_name="orders")
    instrument = models.ForeignKey("market_app.Instrument", on_delete=models.PROTECT, related_name="orders")
    proposal = models.ForeignKey(
        "portfolio_app.RebalanceProposal", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    venue = models.ForeignKey(Venue, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=_choices(Side))
    quantity = models.DecimalField(**QTY)
    order_type = models.CharField(max_length=8, choices=_choices(OrderType), default=OrderType.MARKET.value)
    limit_price = models.DecimalField(**PRICE, null=True, blank=True)
    time_in_force = models.CharField(max_length=4, choices=_choices(TimeInForce), default=TimeInForce.DAY.value)
    algo = models.CharField(max_length=16, default="IMMEDIATE")
    algo_params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=_choices(OrderStatus), default=OrderStatus.INITIALIZED.value)
    previous_status = models.CharField(max_length=20, blank=True)
    filled_qty = models.DecimalField(**QTY, default=Decimal("0"))
    avg_px = models.DecimalField(**PRICE, null=True, blank=True)
    arrival_px = models.DecimalField(**PRICE, null=True, blank=True)
    # What this open parent order holds back from its portfolio's buying power (orders_app.reservations).
    reserved_cash = models.DecimalField(**MONEY, default=Decimal("0"))
    reason = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Working a child order (orders_app.working): the wall time its next task is expected
    # and the token that task carries, so a lost task is found and a superseded one exits.
    wake_at = models.DateTimeField(null=True, blank=True)
    work_seq = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["portfolio", "status"]),
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["-created_at", "-id"], name="order_recent_idx"),
            models.Index(fields=["status", "wake_at"], name="order_wake_idx"),
            models.Index(fields=["instrument", "-created_at"], name="order_instrument_recent_idx"),
            # The blotter: parent orders newest first, of one trader's portfolios or of all (children,
            # the slices, can outnumber parents many times and are not in these).
            models.Index(fields=["portfolio", "-created_at", "-id"], name="order_blotter_portfolio_idx",
                         condition=models.Q(parent__isnull=True)),
            models.Index(fields=["-created_at", "-id"], name="order_blotter_idx", condition=models.Q(parent__isnull=True)),
            models.Index(fields=["portfolio", "status", "-created_at", "-id"], name="order_blotter_status_idx",
                         condition=models.Q(parent__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.quantity} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves_qty(self) -> Decimal:
        return self.quantity - self.filled_qty


class OrderEvent(models.Model):
    """Every transition of an order: from, to, who, when, why (past-tense ``event`` name)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=32)
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text='What an amend changed: {"quantity": {"old": "500", "new": "800"}}.')
    venue_ts = models.DateTimeField(null=True, blank=True, help_text="Market time the venue confirmed it (a cancel, a replace).")
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]


class Fill(models.Model):
    """An ``OrderFilled`` event; ``trade_id`` makes a redelivered fill a no-op."""

    trade_id = models.CharField(max_length=96, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    venue = models.ForeignKey(Venue, null=True, blank=True, on_delete=models.PROTECT, related_name="fills")
    last_qty = models.DecimalField(**QTY)
    last_px = models.DecimalField(**PRICE)
    commission = models.DecimalField(**MONEY, default=Decimal("0"))
    liquidity_side = models.CharField(max_length=5, choices=_choices(LiquiditySide), default=LiquiditySide.TAKER.value)
    realised_pnl = models.DecimalField(**MONEY, default=Decimal("0"))
    ts_event = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts_event", "-id"]
        indexes = [models.Index(fields=["order"])]


class RoutingDecision(models.Model):
    """How the router split one slice of a parent across venues, and the single-venue plans it beat.

    ``allocations``: ``[{"venue", "quantity", "expected_price", "expected_cost_bps"}]`` (Decimals as
    strings); ``alternatives``: ``{venue: cost in bps of sending the whole slice there alone}``, which is
    also the ranking a refused part is re-routed by (``attempts``).
    """

    parent = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="routing_decisions")
    sequence = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    quantity = models.DecimalField(**QTY)
    allocations = models.JSONField(default=list)
    alternatives = models.JSONField(default=dict)
    attempts = models.JSONField(default=list, blank=True,
                                help_text='Venues that refused part of the slice: [{"venue", "reason", "quantity", "rerouted_to", "at"}].')
    expected_cost_bps = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["parent", "sequence"]
        constraints = [models.UniqueConstraint(fields=["parent", "sequence"], name="routingdecision_unique_slice")]
