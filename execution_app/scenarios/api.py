"""Backtests and scenario runs under /api/v1/backtests/ (thin: parse, authorise, call a service, serialise).

Errors are ``400 {"errors": {field: reason}}``, one reason per bad field.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from execution_app.scenarios import selectors as sel, services as svc
from desk.interfaces import ConfigError
from execution_app.models import ScenarioRun
from execution_app.scenarios.calendar import FREQUENCIES
from execution_app.scenarios.config import FILLS

CanRun = roles.HasRole.of(roles.TRADER, roles.RISK_OFFICER, roles.ADMIN)


class BacktestInput(serializers.Serializer):
    strategy = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    rebalance = serializers.ChoiceField(choices=FREQUENCIES, default="monthly")
    capital = serializers.DecimalField(max_digits=20, decimal_places=2, default="1000000.00")
    commission_bps = serializers.DecimalField(max_digits=10, decimal_places=4, default="0")
    slippage_bps = serializers.DecimalField(max_digits=10, decimal_places=4, default="0")
    fill = serializers.ChoiceField(choices=FILLS, default="close")
    params = serializers.JSONField(
        required=False, default=dict,
        help_text="The optimiser's params and the run's own: agents, sizing, constraints, symbols, and algo "
                  "(IMMEDIATE: each order whole at the fill's close; TWAP, VWAP or POV: sliced over each day's "
                  "simulated intraday path) with algo_params, e.g. {\"algo\": \"POV\", \"algo_params\": "
                  "{\"rate\": 0.05}}.",
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    portfolio = serializers.CharField(required=False, allow_blank=True, default="")


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    strategy = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    final_value = serializers.CharField(allow_null=True)
    metrics = serializers.JSONField()
    params = serializers.JSONField()


class CurvePointOutput(serializers.Serializer):
    date = serializers.DateField()
    value = serializers.FloatField(help_text="Equity rebased to 1 at the run's first date.")


class CompareOutput(serializers.Serializer):
    runs = RunOutput(many=True)
    labels = serializers.ListField(child=serializers.CharField(), help_text="One per run, in the order asked.")
    metrics = serializers.DictField(child=serializers.JSONField(), help_text="Label -> the run's metrics.")
    curves = serializers.DictField(child=CurvePointOutput(many=True), help_text="Label -> equity rebased to 1.")
    attribution = serializers.JSONField(allow_null=True, help_text="Backtest vs paper divergence, per order (a backtest + paper pair only).")


CSV = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row (an attachment).")}


class PaperInput(serializers.Serializer):
    portfolio = serializers.CharField()


def _errors(errors: dict) -> Response:
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in errors.items()}
    return Response({"errors": {k: str(v) for k, v in flat.items()}}, status=status.HTTP_400_BAD_REQUEST)


def _portfolio(request, name: str):
    from portfolio_app.selectors import portfolios_visible_to

    return portfolios_visible_to(request.user).filter(name=name).first()


def _run(request, run_id: int) -> ScenarioRun:
    return get_object_or_404(sel.runs_visible_to(request.user).select_related("portfolio"), pk=run_id)


class BacktestListCreateView(APIView):
    permission_classes = [CanRun]

    @extend_schema(responses=RunOutput(many=True))
    def get(self, request):
        runs = sel.runs_visible_to(request.user).select_related("portfolio")
        kind = request.query_params.get("kind")
        if kind:
            runs = runs.filter(kind=kind)
        return Response([sel.run_payload(r) for r in runs[:200]])

    @extend_schema(request=BacktestInput, responses={202: RunOutput})
    def post(self, request):
        data = BacktestInput(data=request.data)
        if not data.is_valid():
            return _errors(data.errors)
        values = dict(data.validated_data)
        name, portfolio_name = values.pop("name"), values.pop("portfolio")
        portfolio = None
        if portfolio_name:
            portfolio = _portfolio(request, portfolio_name)
            if portfolio is None:
                return _errors({"portfolio": f"no portfolio named {portfolio_name!r} that you may see"})
        try:
            run = svc.backtest_create(user=request.user, values=values, name=name, portfolio=portfolio)
        except ConfigError as e:
            return _errors({e.field: e.reason})
        return Response(sel.run_payload(run), status=status.HTTP_202_ACCEPTED)


class BacktestDetailView(APIView):
    permission_classes = [CanRun]

    @extend_schema(responses=RunOutput)
    def get(self, request, run_id: int):
        run = _run(request, run_id)
        body = sel.run_payload(run, series=True)
        if request.query_params.get("trades") in ("1", "true"):
            body["trades"] = sel.trades_of(run)
        return Response(body)


class BacktestCompareView(APIView):
    permission_classes = [CanRun]

    @extend_schema(
        parameters=[OpenApiParameter("ids", str, required=True, description=f"2 to {sel.MAX_COMPARE} run ids separated by commas, e.g. 1,2")],
        responses=CompareOutput,
    )
    def get(self, request):
        raw = request.query_params.get("ids", "")
        try:
            ids = [int(x) for x in raw.split(",") if x.strip()]
            if any(not 0 < i < 2**63 for i in ids):
                raise ValueError
        except ValueError:
            return _errors({"ids": "must be run ids separated by commas, e.g. ids=1,2"})
        if not 2 <= len(ids) <= sel.MAX_COMPARE:
            return _errors({"ids": f"give 2 to {sel.MAX_COMPARE} run ids"})
        runs = {r.pk: r for r in sel.runs_visible_to(request.user).filter(pk__in=ids)}
        missing = [i for i in ids if i not in runs]
        if missing:
            return _errors({"ids": f"no run {', '.join(map(str, missing))} that you may see"})
        body = sel.compare_runs([runs[i] for i in ids])
        body.pop("equity_chart"), body.pop("drawdown_chart"), body.pop("metric_rows")
        return Response(body)


class BacktestEquityCsvView(APIView):
    permission_classes = [CanRun]

    @extend_schema(responses=CSV)
    def get(self, request, run_id: int):
        run = _run(request, run_id)
        resp = HttpResponse(sel.equity_csv(run), content_type="text/csv")
        resp["Content-Disposition"] = f'attachment; filename="run-{run.pk}-equity.csv"'
        return resp


class BacktestTradesCsvView(APIView):
    permission_classes = [CanRun]

    @extend_schema(responses=CSV)
    def get(self, request, run_id: int):
        run = _run(request, run_id)
        resp = HttpResponse(sel.trades_csv(run), content_type="text/csv")
        resp["Content-Disposition"] = f'attachment; filename="run-{run.pk}-trades.csv"'
        return resp


class PaperStartView(APIView):
    """Start recording a portfolio as a paper run (traders of it, risk officers, admins)."""

    permission_classes = [CanRun]

    @extend_schema(request=PaperInput, responses={201: RunOutput})
    def post(self, request):
        data = PaperInput(data=request.data)
        if not data.is_valid():
            return _errors(data.errors)
        portfolio = _portfolio(request, data.validated_data["portfolio"])
        if portfolio is None:
            return _errors({"portfolio": "no such portfolio that you may see"})
        run = svc.paper_run_start(portfolio=portfolio, user=request.user)
        return Response(sel.run_payload(run), status=status.HTTP_201_CREATED)


class PaperStopView(APIView):
    permission_classes = [CanRun]

    @extend_schema(request=None, responses=RunOutput, description="Stop recording a paper run (400 for any other kind of run).")
    def post(self, request, run_id: int):
        run = _run(request, run_id)
        if run.kind != ScenarioRun.Kind.PAPER:
            return _errors({"run": "only a paper run can be stopped"})
        return Response(sel.run_payload(svc.paper_run_stop(run_id=run.pk, user=request.user)))
