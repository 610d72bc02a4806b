"""Input and output serializers of the signals API (explicit, one per direction).

Signal batches are *not* validated here: ``signal_validation`` checks them
column-wise, which is what makes a 10,000-item POST cheap. ``SignalInput`` only
documents their shape for the OpenAPI schema.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from desk.text import plain_text
from signals_app.models import AGENT_SCHEDULES
from signals_app.validation import MAX_BATCH


class SignalInput(serializers.Serializer):
    agent = serializers.CharField(help_text="The agent's name (or numeric id).")
    symbol = serializers.CharField()
    score = serializers.FloatField(min_value=-1, max_value=1, help_text="Direction and strength, in [-1, 1].")
    confidence = serializers.FloatField(min_value=0, max_value=1)
    horizon_days = serializers.FloatField(help_text="How long the signal stays live, in days (0.001 to 366).")
    generated_at = serializers.DateTimeField(help_text="With a time zone; naive timestamps are refused.")
    client_signal_id = serializers.CharField(max_length=128, help_text="Idempotency key, unique per agent.")
    metadata = serializers.DictField(required=False)


class SignalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    agent = serializers.CharField(source="agent.name")
    agent_id = serializers.IntegerField()
    symbol = serializers.CharField(source="instrument.symbol")
    score = serializers.DecimalField(max_digits=6, decimal_places=5)
    confidence = serializers.DecimalField(max_digits=6, decimal_places=5)
    horizon_days = serializers.DecimalField(max_digits=8, decimal_places=3)
    generated_at = serializers.DateTimeField()
    client_signal_id = serializers.CharField()
    metadata = serializers.JSONField()
    received_at = serializers.DateTimeField()


class SignalBatchOutput(serializers.Serializer):
    created = serializers.IntegerField(help_text="Signals stored by this request.")
    existing = serializers.IntegerField(help_text="Signals already stored under their client_signal_id (retries).")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="Stored id per submitted item, in order.")
    new = serializers.ListField(child=serializers.BooleanField(), help_text="Whether each item was stored now.")


class ItemErrorOutput(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    code = serializers.CharField(required=False)
    index = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="Position in the submitted list (0 for a single object; null: the request as a whole).",
    )


class SignalErrorOutput(serializers.Serializer):
    """The desk's error format (code, message, errors) plus the batch's error count."""

    code = serializers.CharField()
    message = serializers.CharField()
    errors = ItemErrorOutput(many=True, help_text="At most 1,000 shown.")
    errors_total = serializers.IntegerField(required=False, help_text="All the batch's errors, shown or not.")


class SignalPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SignalOutput(many=True)


MAX_ID = 2**63 - 1  # the database's integer range: a longer "id" is refused, not sent to SQL


class AgentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    config = serializers.JSONField()
    weight = serializers.DecimalField(max_digits=8, decimal_places=4)
    enabled = serializers.BooleanField()
    owner = serializers.CharField(source="owner.username", allow_null=True, default=None)
    schedule = serializers.CharField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_run_market_date = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()


class AgentInput(serializers.Serializer):
    """Create: ``name`` and ``type`` required. Update (PATCH): any subset. The config is checked by the type."""

    name = serializers.CharField(max_length=64, validators=[plain_text])
    type = serializers.CharField(max_length=64)
    config = serializers.DictField(required=False, default=dict)
    weight = serializers.DecimalField(max_digits=8, decimal_places=4, min_value=0, required=False, default="1")
    enabled = serializers.BooleanField(required=False, default=True)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), allow_null=True, required=False, default=None,
        help_text="Username of the API client that may submit signals for this agent.",
    )
    schedule = serializers.ChoiceField(choices=AGENT_SCHEDULES, required=False, default="daily")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="",
                                   help_text="Why (PATCH): recorded with the new version.")


class AgentVersionOutput(serializers.Serializer):
    """One version of a configuration: the whole of it, and what changed against the version before."""

    number = serializers.IntegerField()
    config = serializers.JSONField()
    diff = serializers.JSONField(help_text="[{path, before, after}] against the previous version.")
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    restored_from = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class AgentVersionRestoreInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class AgentTypeOutput(serializers.Serializer):
    name = serializers.CharField()
    computed = serializers.BooleanField()
    description = serializers.CharField()
    defaults = serializers.JSONField()


class AggregatesQuery(serializers.Serializer):
    as_of = serializers.DateTimeField(required=False, help_text="Default: the market clock's now.")
    method = serializers.CharField(required=False, help_text="weighted_decay | majority_vote | latest_per_agent")


class ViewOutput(serializers.Serializer):
    symbol = serializers.CharField()
    score = serializers.FloatField(help_text="Aggregated score in [-1, 1].")
    confidence = serializers.FloatField(help_text="Aggregated confidence in [0, 1].")
    n_signals = serializers.IntegerField()
    expected_excess_return = serializers.FloatField(help_text="Black-Litterman absolute view: bl_scale x score, annual.")
    contributions = serializers.DictField(child=serializers.FloatField(), help_text="Agent -> share of the score.")


class AggregatesOutput(serializers.Serializer):
    as_of = serializers.DateTimeField()
    method = serializers.CharField()
    half_life_days = serializers.FloatField(allow_null=True)
    bl_scale = serializers.FloatField()
    views = ViewOutput(many=True)


MAX_SIGNALS_PER_POST = MAX_BATCH
