"""The blotter's filters (API and page alike): portfolio, status (several, comma-separated), instrument."""

from __future__ import annotations

import django_filters

from orders_app.models import Order

MAX_ID = 2**63 - 1


class OrderFilter(django_filters.FilterSet):
    portfolio = django_filters.NumberFilter(field_name="portfolio_id", min_value=1, max_value=MAX_ID, help_text="portfolio id")
    status = django_filters.CharFilter(method="by_status", max_length=200, help_text="status, or several separated by commas")
    instrument = django_filters.CharFilter(method="by_symbol", max_length=32, help_text="instrument symbol")

    class Meta:
        model = Order
        fields = ["portfolio", "status", "instrument"]

    def by_status(self, queryset, name, value):
        return queryset.filter(status__in=[s for s in value.split(",") if s])

    def by_symbol(self, queryset, name, value):
        return queryset.filter(instrument__symbol=value.upper())
