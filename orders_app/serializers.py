"""API shapes for orders: explicit input serializers (parse) and output serializers (render)."""

from __future__ import annotations

from rest_framework import serializers

from desk.interfaces import OrderType, Side, TimeInForce
from orders_app.algos import ALGOS
from orders_app.models import Fill, Order, OrderEvent, RoutingDecision
from orders_app.selectors import arrival_slippage_bps


def _choices(enum_cls):
    return [m.value for m in enum_cls]


class OrderPlaceInput(serializers.Serializer):
    portfolio = serializers.IntegerField()
    symbol = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=_choices(Side))
    quantity = serializers.DecimalField(max_digits=20, decimal_places=4, min_value=0)
    order_type = serializers.ChoiceField(choices=_choices(OrderType), default=OrderType.MARKET.value)
    limit_price = serializers.DecimalField(max_digits=20, decimal_places=6, required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(choices=_choices(TimeInForce), default=TimeInForce.DAY.value)
    algo = serializers.ChoiceField(choices=list(ALGOS), default="IMMEDIATE")
    algo_params = serializers.DictField(required=False, default=dict)
    client_order_id = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class OrderAmendInput(serializers.Serializer):
    quantity = serializers.DecimalField(max_digits=20, decimal_places=4, required=False, allow_null=True)
    limit_price = serializers.DecimalField(max_digits=20, decimal_places=6, required=False, allow_null=True)


class OrderCancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ChildSummaryOutput(serializers.Serializer):
    count = serializers.IntegerField()
    open = serializers.IntegerField()
    venues = serializers.ListField(child=serializers.ListField())
    next_due = serializers.DateTimeField(allow_null=True)


class OrderOutput(serializers.ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol")
    portfolio_name = serializers.CharField(source="portfolio.name", default=None, allow_null=True)
    venue = serializers.CharField(source="venue.code", default=None, allow_null=True)
    slippage_bps = serializers.SerializerMethodField()
    children_summary = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id", "client_order_id", "parent_id", "portfolio_id", "portfolio_name", "proposal_id", "symbol", "side",
            "quantity", "filled_qty", "avg_px", "arrival_px", "order_type", "limit_price", "time_in_force", "algo",
            "algo_params", "status", "reason", "venue", "due_at", "sent_at", "created_at", "updated_at",
            "slippage_bps", "children_summary", "reserved_cash",
        ]

    def get_slippage_bps(self, obj) -> float | None:
        return arrival_slippage_bps(obj)

    def get_children_summary(self, obj) -> dict | None:
        summary = (self.context.get("children") or {}).get(obj.pk)
        return None if summary is None else child_summary_data(summary)


_NEXT_DUE = ChildSummaryOutput().fields["next_due"]


def child_summary_data(summary) -> dict:
    """``ChildSummaryOutput(summary).data``, made directly: a list page has one per order, and a serializer built
    for each cost more than the rest of the order's row."""
    return {"count": int(summary.count), "open": int(summary.open), "venues": [list(v) for v in summary.venues],
            "next_due": None if summary.next_due is None else _NEXT_DUE.to_representation(summary.next_due)}


class ChildOutput(serializers.ModelSerializer):
    venue = serializers.CharField(source="venue.code", default=None, allow_null=True)

    class Meta:
        model = Order
        fields = ["id", "client_order_id", "venue", "quantity", "filled_qty", "avg_px", "order_type", "limit_price",
                  "status", "reason", "due_at", "sent_at", "updated_at"]


class OrderEventOutput(serializers.ModelSerializer):
    client_order_id = serializers.CharField(source="order.client_order_id")
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)

    class Meta:
        model = OrderEvent
        fields = ["id", "order_id", "client_order_id", "event", "from_status", "to_status", "actor", "reason", "changes", "ts"]


class FillOutput(serializers.ModelSerializer):
    client_order_id = serializers.CharField(source="order.client_order_id")
    venue = serializers.CharField(source="venue.code", default=None, allow_null=True)

    class Meta:
        model = Fill
        fields = ["trade_id", "order_id", "client_order_id", "venue", "last_qty", "last_px", "commission",
                  "liquidity_side", "realised_pnl", "ts_event"]


class RoutingDecisionOutput(serializers.ModelSerializer):
    class Meta:
        model = RoutingDecision
        fields = ["sequence", "due_at", "quantity", "allocations", "alternatives", "expected_cost_bps"]


class TcaOutput(serializers.Serializer):
    side = serializers.CharField()
    parent_qty = serializers.CharField()
    filled_qty = serializers.CharField()
    fill_rate = serializers.FloatField()
    arrival_price = serializers.CharField()
    avg_fill_price = serializers.CharField(allow_null=True)
    interval_vwap = serializers.CharField(allow_null=True)
    slippage_bps_arrival = serializers.FloatField(allow_null=True)
    slippage_bps_vwap = serializers.FloatField(allow_null=True)
    fees = serializers.CharField()
    fees_bps = serializers.FloatField(allow_null=True)
    notional = serializers.CharField()
    n_fills = serializers.IntegerField()


class OrderDetailOutput(OrderOutput):
    children = ChildOutput(many=True, source="_children")
    events = OrderEventOutput(many=True, source="_events")
    fills = FillOutput(many=True, source="_fills")
    routing_decisions = RoutingDecisionOutput(many=True, source="_decisions")
    tca = serializers.SerializerMethodField()

    class Meta(OrderOutput.Meta):
        fields = OrderOutput.Meta.fields + ["children", "events", "fills", "routing_decisions", "tca"]

    def get_tca(self, obj) -> dict | None:
        return None if obj._tca is None else obj._tca.as_dict()


class VenueScoreOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    child_orders = serializers.IntegerField()
    ordered_qty = serializers.DecimalField(max_digits=20, decimal_places=4)
    filled_qty = serializers.DecimalField(max_digits=20, decimal_places=4)
    fill_rate = serializers.FloatField(allow_null=True)
    fills = serializers.IntegerField()
    notional = serializers.DecimalField(max_digits=20, decimal_places=2)
    fees = serializers.DecimalField(max_digits=20, decimal_places=2)
    fees_bps = serializers.FloatField(allow_null=True)
    avg_slippage_bps = serializers.FloatField(allow_null=True)
    latency_ms = serializers.DecimalField(max_digits=10, decimal_places=3, help_text="The venue's configured model latency.")
    latency_samples = serializers.IntegerField(help_text="Child orders measured (the venue's most recent).")
    ack_p50_ms = serializers.FloatField(allow_null=True, help_text="Order -> acknowledgement, measured, median.")
    ack_p95_ms = serializers.FloatField(allow_null=True)
    first_fill_p50_ms = serializers.FloatField(allow_null=True, help_text="Order -> first fill, measured, median.")
    first_fill_p95_ms = serializers.FloatField(allow_null=True)


class CancelAllOutput(serializers.Serializer):
    cancelled = serializers.IntegerField()
