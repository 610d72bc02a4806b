"""Agents and their signals.

Tables keep the names they had in ``execution_app`` and ``risk_app`` (``db_table``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from desk.versions import ConfigVersionBase


# Scores and confidences are stored as Decimals with 5 places: exact in the database,
# turned into floats only for the aggregation's arrays.
SIGNAL_UNIT = {"max_digits": 6, "decimal_places": 5}
AGENT_SCHEDULES = ("daily", "weekly", "manual")


class Agent(models.Model):
    """A source of signals: an API client's model (type ``external``) or a computed type.

    ``type`` names an agent type in the plugin registry (``signals_app.agents``);
    ``config`` is that type's settings, validated by it and stored with defaults.
    ``schedule`` says when the beat runs a computed agent, on the market clock's
    dates: ``daily`` (once per session), ``weekly`` (once per market week) or
    ``manual``. Changes go through ``signal_services.agent_update`` (admins only)
    and are read from the database at every run, so they take effect at the next one.
    """

    name = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=64)
    config = models.JSONField(default=dict, blank=True)
    weight = models.DecimalField(max_digits=8, decimal_places=4, default=1)
    enabled = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents",
        help_text="The API client allowed to submit signals for this agent.",
    )
    schedule = models.CharField(max_length=16, default="daily", choices=[(s, s) for s in AGENT_SCHEDULES])
    last_run_at = models.DateTimeField(null=True, blank=True, help_text="Wall time of the last computed run.")
    last_run_market_date = models.DateField(null=True, blank=True, help_text="Market date the last run was for.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["last_run_at", "last_run_market_date", "updated_at"], table_name="execution_app_historicalagent")

    class Meta:
        ordering = ["name"]
        db_table = "execution_app_agent"

    def __str__(self) -> str:
        return self.name


class Signal(models.Model):
    """One agent's opinion on one instrument at ``generated_at`` (aware, UTC), live for ``horizon_days``."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="signals")
    instrument = models.ForeignKey("market_app.Instrument", on_delete=models.PROTECT, related_name="signals")
    score = models.DecimalField(**SIGNAL_UNIT)
    confidence = models.DecimalField(**SIGNAL_UNIT)
    horizon_days = models.DecimalField(max_digits=8, decimal_places=3)
    generated_at = models.DateTimeField()
    client_signal_id = models.CharField(max_length=128)
    metadata = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-generated_at", "-id"]
        db_table = "execution_app_signal"
        constraints = [
            models.UniqueConstraint(fields=["agent", "client_signal_id"], name="signal_unique_agent_client_id"),
            models.CheckConstraint(condition=models.Q(score__gte=-1, score__lte=1), name="signal_score_unit"),
            models.CheckConstraint(condition=models.Q(confidence__gte=0, confidence__lte=1), name="signal_confidence_unit"),
            models.CheckConstraint(condition=models.Q(horizon_days__gt=0), name="signal_horizon_positive"),
        ]
        indexes = [
            # The live-signal scan (generated_at window), per instrument, and the per-agent feeds.
            models.Index(fields=["generated_at", "instrument"], name="signal_generated_instr"),
            models.Index(fields=["agent", "generated_at"], name="signal_agent_generated"),
            models.Index(fields=["received_at"], name="signal_received"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.instrument_id} {self.score} @ {self.generated_at:%Y-%m-%d %H:%M}"



class AgentRollout(models.Model):
    """An agent's rollout mode: in ``shadow`` its signals are stored but left out of live aggregation."""

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="rollout")
    mode = models.CharField(max_length=8, choices=[("live", "live"), ("shadow", "shadow")], default="live")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "risk_app_agentrollout"


# What an agent's version holds: the fields that change what it computes and how much it counts.
AGENT_VERSIONED = ("type", "config", "weight", "schedule", "enabled")


class AgentVersion(ConfigVersionBase):
    """One version of an agent's configuration (``AGENT_VERSIONED``), written by ``signal_services``."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")

    class Meta(ConfigVersionBase.Meta):
        constraints = [models.UniqueConstraint(fields=["agent", "number"], name="agentversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.agent_id} v{self.number}"
