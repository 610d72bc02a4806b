"""Portfolios, positions and rebalance proposals.

Money and quantities are Decimal (rounding rules in ``desk.money``):
prices 6 places, cash to the cent, quantities whole shares (lots).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from desk.interfaces import ProposalStatus
from desk.lifecycle import LifecycleModel
from desk.versions import ConfigVersionBase
from portfolio_app.states import OPEN_PROPOSAL_STATUSES
from market_app.models import MONEY, PRICE, QTY, Instrument  # noqa: F401  (PRICE/QTY/MONEY: one definition)



class Portfolio(models.Model):
    class Mode(models.TextChoices):
        LIVE = "live", "Live"
        SHADOW = "shadow", "Shadow"

    name = models.CharField(max_length=128, unique=True)
    base_currency = models.CharField(max_length=3, default="USD")
    cash = models.DecimalField(**MONEY, default=Decimal("0"))
    benchmark = models.ForeignKey(Instrument, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    traders = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="portfolios")
    # The account (portfolio_app/account.py): long-only trades a cash account, long/short a margin
    # account whose equity must cover this fraction of gross exposure (Regulation T: 50%).
    long_short = models.BooleanField(default=False)
    initial_margin = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.5"),
                                         help_text="Margin accounts (long/short): initial margin as a fraction of gross exposure.")
    gross_limit = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("1"))
    strategy = models.CharField(max_length=64, default="max_sharpe")
    strategy_params = models.JSONField(default=dict, blank=True)
    constraints = models.JSONField(default=dict, blank=True)
    rebalance_policy = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.LIVE)
    peak_nav = models.DecimalField(**MONEY, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Position(models.Model):
    """Average-cost position; ``realised_pnl`` accumulates reductions (fees booked separately)."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    quantity = models.DecimalField(**QTY, default=Decimal("0"))
    avg_cost = models.DecimalField(**PRICE, default=Decimal("0"))
    realised_pnl = models.DecimalField(**MONEY, default=Decimal("0"))
    fees = models.DecimalField(**MONEY, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["portfolio", "instrument"], name="position_unique")]
        ordering = ["portfolio", "instrument"]

    def __str__(self) -> str:
        return f"{self.portfolio_id}:{self.instrument_id} {self.quantity}"


class NavSnapshot(models.Model):
    """NAV at a session close: the base of "today's P&L" and of drawdown."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="nav_snapshots")
    session = models.DateField()
    nav = models.DecimalField(**MONEY)
    cash = models.DecimalField(**MONEY)
    taken_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["portfolio", "session"], name="navsnapshot_unique")]
        ordering = ["portfolio", "session"]


class RebalanceProposal(LifecycleModel):
    LIFECYCLE = "Proposal"

    """Targets, trades, expected metrics and the risk verdict, waiting for a trader (DESIGN.md)."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="proposals")
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in ProposalStatus], default=ProposalStatus.DRAFT.value
    )
    strategy = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(max_length=128, blank=True)
    target_weights = models.JSONField(default=dict, blank=True)
    current_weights = models.JSONField(default=dict, blank=True)
    metrics_before = models.JSONField(default=dict, blank=True)
    metrics_after = models.JSONField(default=dict, blank=True)
    turnover = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    estimated_costs = models.DecimalField(**MONEY, default=Decimal("0"))
    risk_verdict = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    reference_prices = models.JSONField(default=dict, blank=True)
    filled_share = models.DecimalField(max_digits=8, decimal_places=6, null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    market_time = models.DateTimeField(null=True, blank=True)
    # The market date a rebalancing policy fired on (null for on-demand requests): a
    # policy rebalances a portfolio at most once per market date, enforced by the database.
    policy_date = models.DateField(null=True, blank=True)
    # OptimisationError.code (or "config", "trades", "error") of a FAILED proposal.
    failure_code = models.CharField(max_length=32, blank=True)
    # The risk it changes and what made it (portfolio_app/optimisation/provenance.py).
    risk_report = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    inputs_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["portfolio", "status"])]
        constraints = [
            # One open proposal per portfolio at a time (DESIGN.md; portfolio_app.services).
            models.UniqueConstraint(
                fields=["portfolio"],
                condition=models.Q(status__in=OPEN_PROPOSAL_STATUSES),
                name="proposal_one_open_per_portfolio",
            ),
            models.UniqueConstraint(fields=["portfolio", "policy_date"], name="proposal_policy_once_per_date"),
        ]

    def __str__(self) -> str:
        return f"Proposal #{self.pk} {self.status}"


class ProposedTradeRow(models.Model):
    proposal = models.ForeignKey(RebalanceProposal, on_delete=models.CASCADE, related_name="trades")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4)
    quantity = models.DecimalField(**QTY)
    price = models.DecimalField(**PRICE)
    notional = models.DecimalField(**MONEY)
    weight_before = models.FloatField(default=0.0)
    weight_after = models.FloatField(default=0.0)
    risk = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["proposal", "id"]


class ProposalEvent(models.Model):
    """Every proposal transition: from, to, who, when, why."""

    proposal = models.ForeignKey(RebalanceProposal, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["proposal", "id"]


# What a portfolio's strategy version holds (``portfolio_app.strategy_versions``).
STRATEGY_VERSIONED = ("strategy", "strategy_params", "constraints")


class StrategyVersion(ConfigVersionBase):
    """One version of a portfolio's strategy configuration (``STRATEGY_VERSIONED``); ``rollout_id``
    names the gradual rollout that applied it, if one did."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="strategy_versions")
    rollout_id = models.BigIntegerField(null=True, blank=True)

    class Meta(ConfigVersionBase.Meta):
        constraints = [models.UniqueConstraint(fields=["portfolio", "number"], name="strategyversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.portfolio_id} v{self.number}"
