"""The risk API under /api/v1/ (thin: validate, call a service, serialise).

Every desk user reads; the services decide who writes (only risk officers) and
the edges map their refusals: a refused write is a 403 and changes nothing; bad
input is a 400 naming each field.
"""

from __future__ import annotations

import functools

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.api_errors import error_response
from desk.errors import Forbidden, Invalid, NotFound as NotFound_
from desk import roles
from desk.interfaces import OrderIntent, OrderType, Side
from portfolio_app.selectors import portfolio_ids_visible_to, portfolios_visible_to
from risk_app import selectors as sel, services as svc
from risk_app.serializers import AlertOutput, AlertQuery, CheckInput, ExposureOutput, HistoryEntryOutput, LimitChangeOutput, LimitInput, LimitOutput, LimitPatchInput, PendingChangeOutput, ReasonInput, RearmInput, RequiredReasonInput, StateChangeOutput, StateInput, StateOutput, VerdictOutput

def refusals(view):
    """Service refusals as HTTP: invalid 400 (per field), forbidden 403, not found 404."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Invalid as exc:
            raise ValidationError({k: [v] for k, v in exc.field_errors.items()} or [str(exc)]) from exc
        except Forbidden as exc:
            raise PermissionDenied(str(exc)) from exc
        except NotFound_ as exc:
            raise NotFound(str(exc)) from exc

    return wrapper


class RiskView(APIView):
    """Desk users only; whether one may write is the service's to decide."""

    permission_classes = [roles.IsDeskUser]


def _change_body(res: svc.LimitChangeResult) -> dict:
    return LimitChangeOutput({"applied": res.applied, "limit": res.limit, "pending": res.pending}).data


class LimitListCreateView(RiskView):
    @extend_schema(responses=LimitOutput(many=True))
    def get(self, request):
        return Response(LimitOutput(sel.limits_list(), many=True).data)

    @extend_schema(request=LimitInput, responses={201: LimitOutput}, examples=[
        OpenApiExample("max order quantity, desk-wide", request_only=True, value={
            "name": "Max order quantity", "scope": "desk", "kind": "max_order_qty", "threshold": "200000",
            "action": "block", "reason": "Desk policy 2022-06"}),
        OpenApiExample("concentration warning for one portfolio", request_only=True, value={
            "name": "Concentration warning", "scope": "portfolio", "scope_key": "1", "kind": "max_concentration",
            "threshold": "0.10", "action": "warn", "reason": "Early warning before the 12% block"}),
    ])
    @refusals
    def post(self, request):
        data = LimitInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        reason = values.pop("reason")
        row = svc.limit_create(actor=request.user, reason=reason, **values)
        return Response(LimitOutput(row).data, status=status.HTTP_201_CREATED)


class LimitDetailView(RiskView):
    def _get(self, limit_id):
        row = sel.limit_get(limit_id)
        if row is None:
            raise NotFound(f"No limit {limit_id}.")
        return row

    @extend_schema(responses=LimitOutput)
    def get(self, request, limit_id: int):
        return Response(LimitOutput(self._get(limit_id)).data)

    @extend_schema(request=LimitPatchInput, responses={200: LimitChangeOutput, 202: LimitChangeOutput},
                   examples=[OpenApiExample("tighten", request_only=True, value={"threshold": "150000", "reason": "Volatility is up"})],
                   description="Tightening applies at once (200); loosening creates a pending change (202).")
    @refusals
    def patch(self, request, limit_id: int):
        data = LimitPatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        reason = values.pop("reason")
        res = svc.limit_update(limit_id=limit_id, actor=request.user, reason=reason, **values)
        return Response(_change_body(res), status=status.HTTP_200_OK if res.applied else status.HTTP_202_ACCEPTED)

    @extend_schema(request=RequiredReasonInput, responses={202: LimitChangeOutput},
                   parameters=[OpenApiParameter("reason", str, description="Why (required: here or as `reason` in a JSON body).")],
                   description="Deleting loosens: a pending change a second risk officer approves.")
    @refusals
    def delete(self, request, limit_id: int):
        data = RequiredReasonInput(data=request.data or request.query_params)
        data.is_valid(raise_exception=True)
        res = svc.limit_delete(limit_id=limit_id, actor=request.user, reason=data.validated_data["reason"])
        return Response(_change_body(res), status=status.HTTP_202_ACCEPTED)


class LimitHistoryView(RiskView):
    @extend_schema(responses=HistoryEntryOutput(many=True))
    def get(self, request, limit_id: int):
        rows = sel.limit_history(limit_id)
        if not rows:
            raise NotFound(f"No limit {limit_id}.")
        return Response(HistoryEntryOutput(rows, many=True).data)


class PendingChangeListView(RiskView):
    @extend_schema(responses=PendingChangeOutput(many=True))
    def get(self, request):
        return Response(PendingChangeOutput(sel.pending_changes(), many=True).data)


class PendingChangeApproveView(RiskView):
    @extend_schema(request=ReasonInput, responses=LimitChangeOutput)
    @refusals
    def post(self, request, change_id: int):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        res = svc.limit_change_approve(change_id=change_id, actor=request.user, reason=data.validated_data["reason"])
        return Response(_change_body(res))


class PendingChangeRejectView(RiskView):
    @extend_schema(request=RequiredReasonInput, responses=PendingChangeOutput)
    @refusals
    def post(self, request, change_id: int):
        data = RequiredReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        change = svc.limit_change_reject(change_id=change_id, actor=request.user, reason=data.validated_data["reason"])
        return Response(PendingChangeOutput(change).data)


def _state_body(res: svc.StateResult) -> dict:
    return StateChangeOutput({"scope": res.scope, "state": res.state, "applied": res.applied, "rearm": res.rearm}).data


class TradingStateView(RiskView):
    @extend_schema(responses=StateOutput(many=True))
    def get(self, request):
        return Response(StateOutput(sel.trading_states(list(portfolios_visible_to(request.user))), many=True).data)

    @extend_schema(request=StateInput, responses={200: StateChangeOutput, 202: StateChangeOutput},
                   description="From HALTED this files a re-arm request (202) that a second risk officer confirms.")
    @refusals
    def post(self, request):
        data = StateInput(data=request.data)
        data.is_valid(raise_exception=True)
        res = svc.trading_state_set(actor=request.user, **data.validated_data)
        return Response(_state_body(res), status=status.HTTP_200_OK if res.applied else status.HTTP_202_ACCEPTED)


class TradingStateConfirmView(RiskView):
    @extend_schema(request=RearmInput, responses=StateChangeOutput)
    @refusals
    def post(self, request):
        data = RearmInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            res = svc.trading_state_rearm_confirm(actor=request.user, **data.validated_data)
        except svc.RiskNotFound as exc:  # an id in the body: a field error, not a missing resource
            raise ValidationError({"rearm_id": [str(exc)]}) from exc
        return Response(_state_body(res))


class TradingStateRejectView(RiskView):
    @extend_schema(request=RearmInput, responses={204: None})
    @refusals
    def post(self, request):
        data = RearmInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            svc.trading_state_rearm_reject(actor=request.user, rearm_id=data.validated_data["rearm_id"],
                                           reason=data.validated_data["reason"])
        except svc.RiskNotFound as exc:
            raise ValidationError({"rearm_id": [str(exc)]}) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


def _visible_portfolio(user, portfolio_id, *, in_body: bool = False) -> int:
    """A portfolio named in the query is the resource asked for (404 when not visible); one named
    in a body is a field of the input (400 naming it)."""
    try:
        pid = int(portfolio_id)
    except (TypeError, ValueError):
        raise ValidationError({"portfolio": ["A portfolio id is required."]}) from None
    if pid not in portfolio_ids_visible_to(user):
        if in_body:
            raise ValidationError({"portfolio": [f"No portfolio {pid} that you may see."]})
        raise NotFound(f"No portfolio {pid}.")
    return pid


class CheckView(APIView):
    """The verdict for an order intent, without placing, recording or alerting anything."""

    permission_classes = [roles.IsDeskUser]

    @extend_schema(request=CheckInput, responses=VerdictOutput, examples=[
        OpenApiExample("check", request_only=True,
                       value={"portfolio": 1, "symbol": "AAPL", "side": "BUY", "quantity": "5000"}),
        OpenApiExample("denied", response_only=True, status_codes=["200"], value={
            "passed": False, "reasons": ["Order quantity 5,000 exceeds the 2,000 limit 'Max order quantity'"],
            "warnings": [], "breaches": [{"limit_id": 1, "name": "Max order quantity", "kind": "max_order_qty",
                                          "action": "block", "threshold": 2000.0, "value": 5000.0,
                                          "reason": "Order quantity 5,000 exceeds the 2,000 limit 'Max order quantity'"}],
            "utilisation": {"Max order quantity": 2.5}}),
    ])
    def post(self, request):
        data = CheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        pid = _visible_portfolio(request.user, v["portfolio"], in_body=True)
        intent = OrderIntent(
            portfolio_id=pid, symbol=v["symbol"].upper(), side=Side(v["side"]), quantity=v["quantity"],
            order_type=OrderType(v["order_type"]), limit_price=v.get("limit_price"),
            reference_price=v.get("reference_price"), agent_id=v.get("agent_id"),
        )
        with transaction.atomic():
            [verdict] = svc.pre_trade_check(portfolio_id=pid, intents=[intent], record=False, alerts=False)
        return Response(VerdictOutput(svc.verdict_dict(verdict)).data)


class ExposureView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(parameters=[OpenApiParameter("portfolio", int, required=True)],
                   responses={200: ExposureOutput, 404: error_response("No such portfolio (or not yours).")})
    def get(self, request):
        pid = _visible_portfolio(request.user, request.query_params.get("portfolio"))
        snap = sel.risk_snapshot(pid)
        if snap is None:  # never computed yet (a new portfolio before the first beat)
            svc.risk_monitor_recompute(portfolio_id=pid)
            snap = sel.risk_snapshot(pid)
        body = {"portfolio": pid, "market_date": snap.market_date, "computed_at": snap.computed_at,
                "report": snap.report, "utilisation": snap.utilisation}
        return Response(ExposureOutput(body).data)


class AlertListView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(parameters=[AlertQuery], responses=AlertOutput(many=True))
    def get(self, request):
        q = AlertQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        ids = None if roles.sees_all_portfolios(request.user) else portfolio_ids_visible_to(request.user)
        rows = sel.alerts_list(status=q.validated_data.get("status"), portfolio_ids=ids)
        return Response(AlertOutput(rows, many=True).data)


class AlertAcknowledgeView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(request=None, responses=AlertOutput)
    @refusals
    def post(self, request, alert_id: int):
        if not sel.alert_visible_to(request.user, alert_id):  # another portfolio's alert: as if it did not exist
            raise NotFound(f"No alert {alert_id}.")
        return Response(AlertOutput(svc.alert_acknowledge(alert_id=alert_id, actor=request.user)).data)
