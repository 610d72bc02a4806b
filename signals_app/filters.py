"""The signal list's filters: agent (name or id), symbol, and a generated_at window."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError

from signals_app.models import Signal

MAX_ID = 2**63 - 1


def _agent_ref(value: str) -> None:
    # An all-digit value is read as an id: only ASCII digits within a database id's range are one ("²".isdigit()).
    if value.isdigit() and not (value.isascii() and int(value) <= MAX_ID):
        raise ValidationError("Not an agent name or id.")


class SignalFilter(django_filters.FilterSet):
    agent = django_filters.CharFilter(method="by_agent", max_length=64, validators=[_agent_ref], help_text="Agent name or id.")
    symbol = django_filters.CharFilter(field_name="instrument__symbol", max_length=32)
    since = django_filters.IsoDateTimeFilter(field_name="generated_at", lookup_expr="gte",
                                             help_text="generated_at on or after (ISO 8601).")
    until = django_filters.IsoDateTimeFilter(field_name="generated_at", lookup_expr="lte",
                                             help_text="generated_at on or before (ISO 8601).")

    class Meta:
        model = Signal
        fields = ["agent", "symbol", "since", "until"]

    def by_agent(self, queryset, name, value):
        return queryset.filter(agent_id=int(value)) if value.isascii() and value.isdigit() else queryset.filter(agent__name=value)
