"""Input and output serializers of the risk API (explicit, one per direction)."""

from __future__ import annotations

from rest_framework import serializers

from desk.interfaces import OrderType, Side
from desk.text import plain_text
from risk_app.checks import KINDS, SCOPES


class LimitInput(serializers.Serializer):
    name = serializers.CharField(max_length=128, validators=[plain_text])
    scope = serializers.ChoiceField(choices=SCOPES, default="desk")
    scope_key = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                      help_text="Portfolio id, instrument symbol or agent id (empty for desk).")
    kind = serializers.ChoiceField(choices=sorted(KINDS))
    threshold = serializers.DecimalField(max_digits=24, decimal_places=6, required=False,
                                         help_text="Units by kind: USD, shares, fraction of NAV, percent, seconds, per second.")
    action = serializers.ChoiceField(choices=["block", "warn"], default="block")
    enabled = serializers.BooleanField(default=True)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    params = serializers.DictField(required=False, default=dict)
    reason = serializers.CharField(help_text="Why: required on every change.")


class LimitPatchInput(LimitInput):
    """Any subset of the fields, and the reason."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "reason":
                field.required = False
                field.default = serializers.empty


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RequiredReasonInput(serializers.Serializer):
    reason = serializers.CharField()


class LimitOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scope = serializers.CharField()
    scope_key = serializers.CharField()
    kind = serializers.CharField()
    kind_label = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    threshold = serializers.DecimalField(max_digits=24, decimal_places=6)
    action = serializers.CharField()
    enabled = serializers.BooleanField()
    note = serializers.CharField()
    params = serializers.JSONField()
    change_reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True, default=None)
    updated_at = serializers.DateTimeField()

    def get_kind_label(self, obj) -> str:
        return KINDS[obj.kind].label if obj.kind in KINDS else obj.kind

    def get_unit(self, obj) -> str:
        return KINDS[obj.kind].unit if obj.kind in KINDS else ""


class PendingChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    limit_id = serializers.IntegerField(allow_null=True)
    limit_name = serializers.CharField()
    op = serializers.CharField()
    before = serializers.JSONField()
    proposed = serializers.JSONField()
    reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    status = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class LimitChangeOutput(serializers.Serializer):
    applied = serializers.BooleanField()
    limit = LimitOutput(allow_null=True)
    pending = PendingChangeOutput(allow_null=True)


class HistoryEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    when = serializers.DateTimeField()
    who = serializers.CharField(allow_null=True)
    why = serializers.CharField()
    approved_by = serializers.CharField(allow_null=True)
    changed = serializers.ListField(child=serializers.CharField())
    before = serializers.JSONField()
    after = serializers.JSONField()


class StateInput(serializers.Serializer):
    scope = serializers.CharField(default="desk", help_text='"desk" or "portfolio:<id>"')
    state = serializers.ChoiceField(choices=["ACTIVE", "REDUCING", "HALTED"])
    reason = serializers.CharField()


class RearmInput(serializers.Serializer):
    rearm_id = serializers.IntegerField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RearmOutput(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.CharField()
    to_state = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    reason = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class StateOutput(serializers.Serializer):
    scope = serializers.CharField()
    label = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField()
    set_by = serializers.CharField(allow_null=True)
    set_at = serializers.DateTimeField(allow_null=True)
    rearm = RearmOutput(allow_null=True)


class StateChangeOutput(serializers.Serializer):
    scope = serializers.CharField()
    state = serializers.CharField()
    applied = serializers.BooleanField()
    rearm = RearmOutput(allow_null=True)


class CheckInput(serializers.Serializer):
    portfolio = serializers.IntegerField()
    symbol = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=[s.value for s in Side])
    quantity = serializers.DecimalField(max_digits=20, decimal_places=4, min_value=0)
    order_type = serializers.ChoiceField(choices=[t.value for t in OrderType], default="MARKET")
    limit_price = serializers.DecimalField(max_digits=20, decimal_places=6, required=False, allow_null=True)
    reference_price = serializers.DecimalField(max_digits=20, decimal_places=6, required=False, allow_null=True)
    agent_id = serializers.IntegerField(required=False, allow_null=True)

    def validate_quantity(self, value):
        if value <= 0:
            raise serializers.ValidationError("Must be positive.")
        return value


class BreachOutput(serializers.Serializer):
    limit_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    kind = serializers.CharField()
    action = serializers.CharField()
    threshold = serializers.FloatField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    reason = serializers.CharField()


class VerdictOutput(serializers.Serializer):
    passed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    breaches = BreachOutput(many=True)
    utilisation = serializers.DictField(child=serializers.FloatField(allow_null=True))
    reservation = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True, required=False,
                                           help_text="What the order would hold back of the buying power while open.")


class ExposureOutput(serializers.Serializer):
    portfolio = serializers.IntegerField()
    market_date = serializers.DateField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    report = serializers.JSONField(help_text="nav, gross, net, leverage, weights, sector_weights, VaR/CVaR 95/99 hist+param, drawdown.")
    utilisation = serializers.DictField(child=serializers.FloatField(allow_null=True))


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    key = serializers.CharField()
    message = serializers.CharField()
    portfolio_id = serializers.IntegerField(allow_null=True)
    limit_id = serializers.IntegerField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    count = serializers.IntegerField()
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    raised_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class AlertQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=["active", "resolved"], required=False)
