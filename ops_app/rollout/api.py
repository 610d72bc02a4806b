"""Rollouts and strategy versions under /api/v1/ (thin: parse, call a service, serialise).

Services raise ``desk.errors`` subclasses; the API's exception handler turns them into the
desk's error body with the right status (400 naming the field, 403, 404, 409).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from ops_app.models import Rollout, RolloutPromotion
from ops_app.rollout import compare, stages
from ops_app.rollout.selectors import rollouts_visible_to
from portfolio_app import strategy_versions as sv
from portfolio_app.models import Portfolio
from portfolio_app.selectors import portfolios_visible_to

CanRead = roles.HasRole.of(roles.TRADER, roles.RISK_OFFICER, roles.ADMIN)


class PromotionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    to_stage = serializers.CharField()
    canary_ids = serializers.ListField(child=serializers.IntegerField())
    reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    status = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decision_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class RolloutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    stage = serializers.CharField()
    candidate = serializers.JSONField()
    portfolios = serializers.SerializerMethodField()
    canary = serializers.SerializerMethodField()
    incumbent_versions = serializers.JSONField()
    min_sample = serializers.IntegerField()
    min_window_minutes = serializers.IntegerField()
    reason = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    canary_started_at = serializers.DateTimeField(allow_null=True)
    stage_changed_at = serializers.DateTimeField()
    ended_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    promotions = PromotionOutput(many=True, source="promotions.all")
    comparison = serializers.SerializerMethodField()
    diffs = serializers.SerializerMethodField()

    def get_portfolios(self, obj) -> list[int]:
        return sorted(obj.portfolios.values_list("pk", flat=True))

    def get_canary(self, obj) -> list[int]:
        return sorted(obj.canary.values_list("pk", flat=True))

    def get_comparison(self, obj) -> dict:
        return compare.rollout_compare(obj).as_dict()

    def get_diffs(self, obj) -> list[dict]:
        return compare.rollout_diffs(obj)


class RolloutInput(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    portfolios = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    candidate = serializers.DictField(help_text="strategy, strategy_params and/or constraints")
    reason = serializers.CharField(max_length=2000)
    min_sample = serializers.IntegerField(min_value=1, max_value=100_000, default=20)
    min_window_minutes = serializers.IntegerField(min_value=0, max_value=100_000, default=60)


class PromotionInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    canary = serializers.ListField(child=serializers.IntegerField(), required=False, default=list,
                                   help_text="To canary: the whole portfolios that take the candidate first.")


class RolloutReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RolloutListCreateView(APIView):
    def get_permissions(self):
        return [roles.IsAdmin()] if self.request.method == "POST" else [CanRead()]

    @extend_schema(responses=RolloutOutput(many=True))
    def get(self, request):
        qs = rollouts_visible_to(request.user).select_related("requested_by").prefetch_related("promotions")[:50]
        return Response(RolloutOutput(qs, many=True).data)

    @extend_schema(request=RolloutInput, responses={201: RolloutOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request):
        data = RolloutInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        rollout = stages.rollout_create(actor=request.user, name=v["name"], portfolio_ids=v["portfolios"],
                                        candidate=v["candidate"], reason=v["reason"], min_sample=v["min_sample"],
                                        min_window_minutes=v["min_window_minutes"])
        return Response(RolloutOutput(rollout).data, status=status.HTTP_201_CREATED)


class RolloutDetailView(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses=RolloutOutput)
    def get(self, request, rollout_id: int):
        return Response(RolloutOutput(get_object_or_404(rollouts_visible_to(request.user), pk=rollout_id)).data)


class RolloutPromotionRequestView(APIView):
    """Ask for the rollout's next stage (admins); a risk officer who did not ask decides."""

    permission_classes = [roles.IsAdmin]

    @extend_schema(request=PromotionInput, responses={201: PromotionOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request, rollout_id: int):
        data = PromotionInput(data=request.data)
        data.is_valid(raise_exception=True)
        promo = stages.rollout_promotion_request(actor=request.user, rollout_id=rollout_id,
                                                 reason=data.validated_data["reason"],
                                                 canary_ids=data.validated_data["canary"])
        return Response(PromotionOutput(promo).data, status=status.HTTP_201_CREATED)


class _DecideView(APIView):
    permission_classes = [roles.HasRole.of(roles.RISK_OFFICER)]
    approve = True

    @extend_schema(request=RolloutReasonInput, responses={200: PromotionOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request, promotion_id: int):
        data = RolloutReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        get_object_or_404(RolloutPromotion, pk=promotion_id)
        promo = stages.rollout_promotion_decide(actor=request.user, promotion_id=promotion_id, approve=self.approve,
                                                reason=data.validated_data["reason"])
        return Response(PromotionOutput(promo).data)


class RolloutPromotionApproveView(_DecideView):
    """Sign off a promotion (risk officers; never your own request)."""


class RolloutPromotionRejectView(_DecideView):
    """Refuse a promotion (risk officers; a reason is required)."""

    approve = False


class RolloutRollbackView(APIView):
    """Roll a rollout back to the incumbent versions now (admins, risk officers)."""

    permission_classes = [roles.HasRole.of(roles.ADMIN, roles.RISK_OFFICER)]

    @extend_schema(request=RolloutReasonInput, responses={200: RolloutOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request, rollout_id: int):
        data = RolloutReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        get_object_or_404(Rollout, pk=rollout_id)
        rollout = stages.rollout_roll_back(actor=request.user, rollout_id=rollout_id, reason=data.validated_data["reason"])
        return Response(RolloutOutput(rollout).data)


class RolloutAbandonView(APIView):
    """Stop a rollout still in shadow (admins)."""

    permission_classes = [roles.IsAdmin]

    @extend_schema(request=RolloutReasonInput, responses={200: RolloutOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request, rollout_id: int):
        data = RolloutReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        get_object_or_404(Rollout, pk=rollout_id)
        rollout = stages.rollout_abandon(actor=request.user, rollout_id=rollout_id, reason=data.validated_data["reason"])
        return Response(RolloutOutput(rollout).data)


# --- Strategy versions ---------------------------------------------------------------------------


class StrategyVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    config = serializers.JSONField()
    diff = serializers.JSONField(help_text="[{path, before, after}] against the previous version.")
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    restored_from = serializers.IntegerField(allow_null=True)
    rollout_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class StrategyInput(serializers.Serializer):
    strategy = serializers.CharField(max_length=64, required=False)
    strategy_params = serializers.DictField(required=False)
    constraints = serializers.DictField(required=False)
    reason = serializers.CharField(max_length=2000)


class StrategyVersionListView(APIView):
    """A portfolio's strategy configuration versions, newest first (who, when, why, the diff)."""

    permission_classes = [CanRead]

    @extend_schema(responses=StrategyVersionOutput(many=True))
    def get(self, request, portfolio_id: int):
        get_object_or_404(portfolios_visible_to(request.user), pk=portfolio_id)
        return Response(StrategyVersionOutput(sv.strategy_versions(portfolio_id), many=True).data)


class StrategyUpdateView(APIView):
    """Change a portfolio's strategy configuration (admins): a new version, with a reason."""

    permission_classes = [roles.IsAdmin]

    @extend_schema(request=StrategyInput, responses={200: StrategyVersionOutput(many=True),
                                                     400: OpenApiResponse(description="Field errors.")})
    def patch(self, request, portfolio_id: int):
        get_object_or_404(Portfolio, pk=portfolio_id)
        data = StrategyInput(data=request.data)
        data.is_valid(raise_exception=True)
        config = {k: v for k, v in data.validated_data.items() if k != "reason"}
        sv.strategy_update(actor=request.user, portfolio_id=portfolio_id, reason=data.validated_data["reason"], **config)
        return Response(StrategyVersionOutput(sv.strategy_versions(portfolio_id), many=True).data)


class StrategyVersionRestoreView(APIView):
    """Restore an earlier strategy version in one action (admins): itself a new version."""

    permission_classes = [roles.IsAdmin]

    @extend_schema(request=RolloutReasonInput, responses={200: StrategyVersionOutput(many=True),
                                                   400: OpenApiResponse(description="Field errors.")})
    def post(self, request, portfolio_id: int, number: int):
        get_object_or_404(Portfolio, pk=portfolio_id)
        data = RolloutReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        sv.strategy_version_restore(actor=request.user, portfolio_id=portfolio_id, number=number,
                                    reason=data.validated_data["reason"])
        return Response(StrategyVersionOutput(sv.strategy_versions(portfolio_id), many=True).data)
