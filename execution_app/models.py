"""Execution app models: scenario runs and their results: backtest, benchmark and paper runs of the one pipeline.

A run's results live only here -- never in the live orders, fills and positions.
A backtest stores its daily equity and trades once, at the end, with bulk_create;
a paper run appends one equity point per market date as the live portfolio goes.
Money to the cent, prices 6 places, quantities whole shares (``desk.money``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from desk.lifecycle import LifecycleModel

__all__ = ["ScenarioRun", "ScenarioEquity", "ScenarioTrade"]

_MONEY = {"max_digits": 20, "decimal_places": 2}
_PRICE = {"max_digits": 20, "decimal_places": 6}
_QTY = {"max_digits": 20, "decimal_places": 4}


class ScenarioRun(LifecycleModel):
    LIFECYCLE = "ScenarioRun"

    class Kind(models.TextChoices):
        BACKTEST = "backtest", "Backtest"
        BENCHMARK = "benchmark", "Benchmark"
        PAPER = "paper", "Paper"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BACKTEST)
    name = models.CharField(max_length=128, blank=True)
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True, help_text="The run's config: dates, calendar, costs, params.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    final_value = models.DecimalField(**_MONEY, null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="Costs, positions, fill timing, notes.")
    error = models.TextField(blank=True)
    portfolio = models.ForeignKey(
        "portfolio_app.Portfolio", null=True, blank=True, on_delete=models.SET_NULL, related_name="scenario_runs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"], name="scenariorun_kind_status")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.name or self.strategy} ({self.status})"


class ScenarioEquity(models.Model):
    run = models.ForeignKey(ScenarioRun, on_delete=models.CASCADE, related_name="equity")
    date = models.DateField()
    equity = models.DecimalField(**_MONEY)
    benchmark = models.DecimalField(**_MONEY, null=True, blank=True)

    class Meta:
        ordering = ["run", "date"]
        constraints = [models.UniqueConstraint(fields=["run", "date"], name="scenarioequity_unique_run_date")]


class ScenarioTrade(models.Model):
    run = models.ForeignKey(ScenarioRun, on_delete=models.CASCADE, related_name="trades")
    date = models.DateField()
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    qty = models.DecimalField(**_QTY)
    price = models.DecimalField(**_PRICE)
    commission = models.DecimalField(**_MONEY, default=Decimal("0"))
    slippage = models.DecimalField(**_MONEY, default=Decimal("0"))
    reference_price = models.DecimalField(**_PRICE, null=True, blank=True)
    weight_after = models.FloatField(null=True, blank=True)
    order_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["run", "date", "id"]
        indexes = [models.Index(fields=["run", "date"], name="scenariotrade_run_date")]
