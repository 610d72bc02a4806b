"""Signals, agents and aggregates under /api/v1/ (thin: parse, authorise, call a service, serialise).

``POST /signals/`` reads the body with msgspec and hands the raw items to
``signal_services.signal_batch_create``, which validates them column-wise: a
10,000-item batch never goes through a serializer item by item.
"""

from __future__ import annotations

import msgspec
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.generics import GenericAPIView
from rest_framework.views import APIView

from desk.api_errors import normalise
from desk import roles
from signals_app.filters import SignalFilter
from signals_app.models import Signal
from signals_app import selectors as sel
from signals_app import services as svc
from signals_app.agents import available_agent_types
from signals_app.serializers import AgentInput, AgentOutput, AgentTypeOutput, AggregatesOutput, AggregatesQuery, SignalBatchOutput, SignalErrorOutput, SignalInput, SignalOutput, SignalPageOutput, AgentVersionOutput, AgentVersionRestoreInput

MAX_ERRORS_SHOWN = 1000
CanRead = roles.HasRole.of(roles.TRADER, roles.RISK_OFFICER, roles.ADMIN, roles.API_CLIENT)
CanSubmit = roles.HasRole.of(roles.API_CLIENT, roles.ADMIN)


class MsgspecJSONParser(BaseParser):
    """JSON bodies decoded by msgspec (several times faster than the stdlib on a 10,000-item batch)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return msgspec.json.decode(stream.read() if stream is not None else b"")
        except msgspec.DecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


class MsgspecJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            data = normalise(data, response.status_code)  # the desk's one error format
        try:
            return msgspec.json.encode(data)
        except TypeError:  # a type msgspec does not know (lazy strings, ...): the stdlib path
            return super().render(data, accepted_media_type, renderer_context)


def _refused(exc: svc.SignalBatchInvalid) -> Response:
    shown = exc.errors[:MAX_ERRORS_SHOWN]
    body = {"detail": str(exc), "errors": [e.as_dict() for e in shown], "errors_total": len(exc.errors)}
    return Response(body, status=exc.status)


SIGNAL_STORED = PolymorphicProxySerializer(
    component_name="SignalStored", serializers=[SignalOutput, SignalBatchOutput], resource_type_field_name=None,
)


class SignalListCreateView(GenericAPIView):
    queryset = Signal.objects.none()  # for the schema's model lookup; the rows come from selectors.signal_list
    filter_backends = [DjangoFilterBackend]
    filterset_class = SignalFilter
    parser_classes = [MsgspecJSONParser]
    renderer_classes = [MsgspecJSONRenderer]

    def get_permissions(self):
        return [CanSubmit()] if self.request.method == "POST" else [CanRead()]

    @extend_schema(
        request=SignalInput(many=True),
        description=(
            "Submit one signal (an object) or up to 10,000 (a list), for agents you own. All or nothing: "
            "any bad item refuses the whole request, naming each bad item's index, field and reason. "
            "A client_signal_id already stored for that agent is not stored again (idempotent retries): "
            "a single signal comes back as stored with 200; in a list it counts under `existing`."
        ),
        responses={
            201: OpenApiResponse(SIGNAL_STORED, description="Stored: one signal (SignalOutput) or a list (SignalBatchOutput)."),
            200: OpenApiResponse(SIGNAL_STORED, description="Already stored: a single retry (SignalOutput) or a list (SignalBatchOutput)."),
            400: SignalErrorOutput,
            403: SignalErrorOutput,
        },
        examples=[
            OpenApiExample("one signal", request_only=True, value={
                "agent": "vendor-feed", "symbol": "AAPL", "score": 0.6, "confidence": 0.8, "horizon_days": 5,
                "generated_at": "2022-06-01T14:00:00Z", "client_signal_id": "vendor-2022-06-01-aapl"}),
            OpenApiExample("a batch", request_only=True, value=[
                {"agent": "vendor-feed", "symbol": "AAPL", "score": 0.6, "confidence": 0.8, "horizon_days": 5,
                 "generated_at": "2022-06-01T14:00:00Z", "client_signal_id": "b-1"},
                {"agent": "vendor-feed", "symbol": "MSFT", "score": -0.2, "confidence": 0.5, "horizon_days": 10,
                 "generated_at": "2022-06-01T14:00:00Z", "client_signal_id": "b-2"}]),
            OpenApiExample("batch stored", response_only=True, status_codes=["201"],
                           value={"created": 2, "existing": 0, "ids": [101, 102], "new": [True, True]}),
            OpenApiExample("refused", response_only=True, status_codes=["400"], value={
                "code": "invalid", "message": "1 of 2 signal(s) refused; nothing was saved",
                "errors": [{"index": 1, "field": "score", "reason": "must be between -1 and 1, got 1.5"}], "errors_total": 1}),
        ],
    )
    def post(self, request):
        try:
            result = svc.signal_batch_create(user=request.user, items=request.data)
        except svc.SignalBatchInvalid as exc:
            return _refused(exc)
        code = status.HTTP_201_CREATED if result.created_count else status.HTTP_200_OK
        if not result.many:
            signal = sel.signal_list(user=request.user).get(pk=result.ids[0])
            return Response(SignalOutput(signal).data, status=code)
        body = {"created": result.created_count, "existing": len(result.ids) - result.created_count,
                "ids": result.ids, "new": result.created}
        return Response(body, status=code)

    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses=SignalPageOutput,
    )
    def get(self, request):
        qs = self.filter_queryset(sel.signal_list(user=request.user))
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(SignalOutput(page, many=True).data)


def _agent_errors(exc: svc.AgentInvalid) -> ValidationError:
    return ValidationError({field: [reason] for field, reason in exc.errors.items()})


class AgentListCreateView(APIView):
    def get_permissions(self):
        return [roles.IsAdmin()] if self.request.method == "POST" else [CanRead()]

    @extend_schema(responses=AgentOutput(many=True))
    def get(self, request):
        return Response(AgentOutput(sel.agents_visible_to(request.user).select_related("owner"), many=True).data)

    @extend_schema(request=AgentInput, responses={201: AgentOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request):
        data = AgentInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            fields = {k: v for k, v in data.validated_data.items() if k != "reason"}
            agent = svc.agent_create(actor=request.user, **fields)
        except svc.AgentInvalid as exc:
            raise _agent_errors(exc) from exc
        return Response(AgentOutput(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(APIView):
    def get_permissions(self):
        return [roles.IsAdmin()] if self.request.method == "PATCH" else [CanRead()]

    @extend_schema(responses=AgentOutput)
    def get(self, request, agent_id: int):
        return Response(AgentOutput(get_object_or_404(sel.agents_visible_to(request.user), pk=agent_id)).data)

    @extend_schema(request=AgentInput(partial=True), responses={200: AgentOutput, 400: OpenApiResponse(description="Field errors.")})
    def patch(self, request, agent_id: int):
        get_object_or_404(sel.agents_visible_to(request.user), pk=agent_id)
        data = AgentInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        # Only the fields sent: a partial serializer still fills defaults in validated_data.
        changes = {k: v for k, v in data.validated_data.items() if k in request.data and k != "reason"}
        try:
            agent = svc.agent_update(actor=request.user, agent_id=agent_id, reason=data.validated_data.get("reason", ""),
                                     **changes)
        except svc.AgentInvalid as exc:
            raise _agent_errors(exc) from exc
        except svc.AgentForbidden as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response(AgentOutput(agent).data)


class AgentVersionListView(APIView):
    """Every version of an agent's configuration, newest first (who, when, why, the diff)."""

    permission_classes = [CanRead]

    @extend_schema(responses=AgentVersionOutput(many=True))
    def get(self, request, agent_id: int):
        agent = get_object_or_404(sel.agents_visible_to(request.user), pk=agent_id)
        return Response(AgentVersionOutput(sel.agent_versions(agent.pk), many=True).data)


class AgentVersionRestoreView(APIView):
    """Restore an earlier version in one action (admins): the restore is itself a new version."""

    permission_classes = [roles.IsAdmin]

    @extend_schema(request=AgentVersionRestoreInput, responses={200: AgentOutput, 400: OpenApiResponse(description="Field errors.")})
    def post(self, request, agent_id: int, number: int):
        get_object_or_404(sel.agents_visible_to(request.user), pk=agent_id)
        data = AgentVersionRestoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            agent = svc.agent_version_restore(actor=request.user, agent_id=agent_id, number=number,
                                              reason=data.validated_data["reason"])
        except svc.AgentInvalid as exc:
            raise _agent_errors(exc) from exc
        except svc.AgentForbidden as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response(AgentOutput(agent).data)


class AgentRunView(APIView):
    permission_classes = [roles.IsAdmin]

    @extend_schema(request=None, responses={202: inline_serializer("AgentRunQueued", {"queued": serializers.BooleanField()})})
    def post(self, request, agent_id: int):
        """Run a computed agent now (on the market clock's time), whatever its schedule."""
        from signals_app import tasks

        get_object_or_404(sel.agents_visible_to(request.user), pk=agent_id)
        tasks.agent_run.delay(agent_id, None, True)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class AgentTypeListView(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses=AgentTypeOutput(many=True))
    def get(self, request):
        from django.conf import settings

        rows = [
            {"name": name, "computed": cls.computed, "description": cls.description or (cls.__doc__ or "").strip().split("\n")[0],
             "defaults": cls.config_class.from_dict({}).to_dict()}
            for name, cls in available_agent_types(settings.DESK_AGENT_TYPES).items()
        ]
        return Response(AgentTypeOutput(rows, many=True).data)


def aggregates_body(result: sel.ViewsResult) -> dict:
    t = result.table
    contributions: list[dict[str, float]] = [{} for _ in range(len(t))]
    for k, agent, value in zip(t.contrib_symbol.tolist(), t.contrib_agent.tolist(), t.contrib_value.tolist()):
        contributions[k][agent] = value
    views = [
        {"symbol": s, "score": sc, "confidence": c, "n_signals": n, "expected_excess_return": result.bl_scale * sc,
         "contributions": contributions[k]}
        for k, (s, sc, c, n) in enumerate(zip(t.symbols.tolist(), t.score.tolist(), t.confidence.tolist(), t.n_signals.tolist()))
    ]
    return {"as_of": result.as_of, "method": result.method, "half_life_days": result.half_life_days,
            "bl_scale": result.bl_scale, "views": views}


class AggregatesView(APIView):
    permission_classes = [CanRead]

    @extend_schema(
        parameters=[AggregatesQuery],
        responses=AggregatesOutput,
        description=(
            "One view per instrument from the signals live at `as_of` (default: the market clock's now), "
            "aggregated by the desk's method (settings DESK_AGGREGATION). API clients see views of their own agents only. "
            "`expected_excess_return` is the Black-Litterman absolute view, bl_scale x score (annual)."
        ),
    )
    def get(self, request):
        query = AggregatesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        agent_ids = None
        if not roles.has_role(request.user, roles.ADMIN, roles.TRADER, roles.RISK_OFFICER):
            agent_ids = list(sel.agents_visible_to(request.user).values_list("id", flat=True))
        try:
            result = sel.views_as_of(query.validated_data.get("as_of"), query.validated_data.get("method"), agent_ids=agent_ids)
        except LookupError as exc:
            raise ValidationError({"method": [str(exc)]}) from exc
        return Response(AggregatesOutput(aggregates_body(result)).data)


__all__ = [
    "AgentDetailView", "AgentListCreateView", "AgentRunView", "AgentTypeListView", "AggregatesView",
    "SignalListCreateView",
]
