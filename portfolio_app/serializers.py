"""Input and output shapes of the portfolio API (explicit, so the OpenAPI schema is exact)."""

from __future__ import annotations

from rest_framework import serializers

MONEY = {"max_digits": 20, "decimal_places": 2}
PRICE = {"max_digits": 20, "decimal_places": 6}
QTY = {"max_digits": 20, "decimal_places": 4}


class MetricsOutput(serializers.Serializer):
    expected_return = serializers.FloatField(allow_null=True, help_text="annual fraction")
    volatility = serializers.FloatField(allow_null=True, help_text="annual fraction")
    sharpe = serializers.FloatField(allow_null=True)


class TradeRiskOutput(serializers.Serializer):
    passed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="blocking breaches")
    warnings = serializers.ListField(child=serializers.CharField())


class ProposedTradeOutput(serializers.Serializer):
    symbol = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField()
    quantity = serializers.DecimalField(**QTY)
    price = serializers.DecimalField(**PRICE)
    notional = serializers.DecimalField(**MONEY)
    weight_before = serializers.FloatField()
    weight_after = serializers.FloatField()
    risk = TradeRiskOutput(required=False)


class ProposalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    portfolio_id = serializers.IntegerField()
    portfolio = serializers.CharField(source="portfolio.name")
    status = serializers.CharField()
    strategy = serializers.CharField()
    trigger = serializers.CharField()
    reason = serializers.CharField(help_text="why it failed, expired, went stale or was rejected")
    failure_code = serializers.CharField()
    turnover = serializers.DecimalField(max_digits=12, decimal_places=6, help_text="fraction of NAV")
    estimated_costs = serializers.DecimalField(**MONEY)
    metrics_before = MetricsOutput()
    metrics_after = MetricsOutput()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    expires_at = serializers.DateTimeField(allow_null=True)
    market_time = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    filled_share = serializers.DecimalField(max_digits=8, decimal_places=6, allow_null=True)


class ProposalDetailOutput(ProposalOutput):
    params = serializers.JSONField()
    target_weights = serializers.DictField(child=serializers.FloatField())
    current_weights = serializers.DictField(child=serializers.FloatField())
    risk_verdict = serializers.JSONField()
    reference_prices = serializers.DictField(child=serializers.CharField())
    trades = ProposedTradeOutput(many=True)
    risk_report = serializers.JSONField(help_text=(
        "ex-ante volatility, risk contributions, sector weights vs caps, tracking error, binding constraints "
        "(annual fractions; see portfolio_app/optimisation/risk_report.py)"))
    provenance = serializers.JSONField(help_text=(
        "strategy, config, estimators, estimation window, views, weights and the fallback if it ran; "
        "risk_parity: with per-instrument bounds, holdings inside their bounds carry risk in proportion to "
        "their budgets, those held at a bound carry what it allows"))
    inputs_hash = serializers.CharField(help_text="SHA-256 of the inputs (manage.py reproduce_proposal ID)")


class ProposalRequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    created = serializers.BooleanField(help_text="false: the portfolio's open proposal was returned")


class ProposalListQuery(serializers.Serializer):
    status = serializers.CharField(required=False, max_length=32, help_text="e.g. PENDING_APPROVAL")
    portfolio = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100, help_text="at most 500, default 100")


class FrontierQuery(serializers.Serializer):
    points = serializers.IntegerField(required=False, min_value=2, max_value=60, default=20, help_text="frontier points, 2..60 (default 20)")


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=False, trim_whitespace=True)


class PositionOutput(serializers.Serializer):
    symbol = serializers.CharField()
    name = serializers.CharField()
    sector = serializers.CharField()
    quantity = serializers.DecimalField(**QTY)
    avg_cost = serializers.DecimalField(**PRICE)
    mark = serializers.DecimalField(**PRICE, allow_null=True)
    market_value = serializers.DecimalField(**MONEY)
    weight = serializers.FloatField()
    unrealised_pnl = serializers.DecimalField(**MONEY)
    realised_pnl = serializers.DecimalField(**MONEY)


class PortfolioDetailOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_currency = serializers.CharField()
    mode = serializers.CharField()
    strategy = serializers.CharField()
    rebalance_policy = serializers.JSONField()
    cash = serializers.DecimalField(**MONEY)
    nav = serializers.DecimalField(**MONEY)
    gross = serializers.DecimalField(**MONEY)
    net = serializers.DecimalField(**MONEY)
    unrealised_pnl = serializers.DecimalField(**MONEY)
    realised_pnl = serializers.DecimalField(**MONEY)
    market_time = serializers.DateTimeField()
    positions = PositionOutput(many=True)
    open_proposal_id = serializers.IntegerField(allow_null=True)


class FrontierPointOutput(serializers.Serializer):
    volatility = serializers.FloatField()
    expected_return = serializers.FloatField()


class FrontierOutput(serializers.Serializer):
    points = FrontierPointOutput(many=True)
    current = FrontierPointOutput(allow_null=True)
    proposed = FrontierPointOutput(allow_null=True)
    proposal_id = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
