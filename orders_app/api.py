"""Orders API (/api/v1/orders/, /api/v1/venues/scorecard/, cancel-all): validate, call a service, serialise."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from desk.api_errors import error_response
from orders_app.filters import OrderFilter
from orders_app import selectors
from orders_app.models import Order
from orders_app.serializers import CancelAllOutput, OrderAmendInput, OrderCancelInput, OrderDetailOutput, OrderOutput, OrderPlaceInput, VenueScoreOutput
from orders_app.services import OrderError
from orders_app.states import IllegalTransition
from orders_app.submission import OrderPermissionError, OrderValidationError, order_amend_checked, order_cancel, order_place_once, orders_cancel_all

DESK_USERS = (IsAuthenticated, roles.IsDeskUser)


class OrderPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def detail_data(user, order_id: int) -> dict:
    order = selectors.order_detail(user, order_id)
    if order is None:
        from django.http import Http404

        raise Http404("No such order.")
    order._children = selectors.order_children(order)
    order._events = selectors.order_events(order)
    order._fills = selectors.order_fills(order)
    order._decisions = selectors.routing_decisions(order)
    order._tca = selectors.order_tca(order, order._fills) if order.parent_id is None else None
    return OrderDetailOutput(order, context={"children": selectors.children_summaries([order.pk])}).data


def _refused(exc: Exception) -> ValidationError:
    return ValidationError({"detail": [str(exc)]})


class OrderListCreateView(GenericAPIView):
    """Parent orders the user may see (newest first), and a trader's manual order."""

    permission_classes = DESK_USERS
    pagination_class = OrderPagination
    serializer_class = OrderOutput
    queryset = Order.objects.none()  # for the schema's model lookup; the rows come from selectors.parent_orders
    filter_backends = [DjangoFilterBackend]
    filterset_class = OrderFilter

    @extend_schema(responses=OrderOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(selectors.parent_orders(request.user)))
        children = selectors.children_summaries([o.pk for o in page])
        return self.get_paginated_response(OrderOutput(page, many=True, context={"children": children}).data)

    @extend_schema(request=OrderPlaceInput, responses={
        201: OrderDetailOutput, 200: OrderDetailOutput,
        409: error_response("This client_order_id already names a different order (its id is in order_id)."),
    }, examples=[
        OpenApiExample("market order", request_only=True,
                       value={"portfolio": 1, "symbol": "AAPL", "side": "BUY", "quantity": "100"}),
        OpenApiExample("limit order over an hour (TWAP)", request_only=True, value={
            "portfolio": 1, "symbol": "MSFT", "side": "SELL", "quantity": "500", "order_type": "LIMIT",
            "limit_price": "251.500000", "algo": "TWAP", "algo_params": {"slices": 6, "interval_minutes": 10},
            "client_order_id": "my-desk-0001"}),
        OpenApiExample("not your portfolio", response_only=True, status_codes=["403"],
                       value={"code": "permission_denied", "message": "You do not trade this portfolio.", "errors": []}),
    ])
    def post(self, request):
        data = OrderPlaceInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        v["portfolio_id"] = v.pop("portfolio")
        try:
            order, created = order_place_once(user=request.user, **v)
        except OrderPermissionError as exc:
            raise PermissionDenied(str(exc)) from None
        except OrderValidationError as exc:
            raise ValidationError(exc.errors) from None
        # A repeat of the same request is the same order (200); a different one under its id is a 409 (OrderConflict).
        return Response(detail_data(request.user, order.pk), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class OrderDetailView(APIView):
    permission_classes = DESK_USERS

    @extend_schema(responses=OrderDetailOutput)
    def get(self, request, order_id: int):
        return Response(detail_data(request.user, order_id))


def _visible_order(request, order_id: int):
    """The order, or 404 when the user may not see it; who may change it is the service's to say."""
    order = selectors.order_detail(request.user, order_id)
    if order is None:
        from django.http import Http404

        raise Http404("No such order.")
    return order


class OrderCancelView(APIView):
    permission_classes = DESK_USERS

    @extend_schema(request=OrderCancelInput, responses=OrderDetailOutput)
    def post(self, request, order_id: int):
        order = _visible_order(request, order_id)
        data = OrderCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order_cancel(order_id=order.pk, actor=request.user, reason=data.validated_data["reason"] or "cancelled by trader")
        except (OrderError, IllegalTransition) as exc:
            raise _refused(exc) from None
        return Response(detail_data(request.user, order.pk))


class OrderAmendView(APIView):
    permission_classes = DESK_USERS

    @extend_schema(request=OrderAmendInput, responses={200: OrderDetailOutput, 409: error_response("The amend was refused (a working order only; or the pre-trade checks denied it, with their reasons).")})
    def post(self, request, order_id: int):
        order = _visible_order(request, order_id)
        data = OrderAmendInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = order_amend_checked(order_id=order.pk, actor=request.user, **data.validated_data)
        except OrderValidationError as exc:
            raise ValidationError(exc.errors) from None
        except (OrderError, IllegalTransition) as exc:
            raise _refused(exc) from None
        if result.denied:  # refused by the pre-trade checks: the order is as it was, its history says why
            return Response({"code": "denied", "message": f"The amend was refused by the pre-trade checks: {result.denied}",
                             "errors": [], "order_id": order.pk}, status=status.HTTP_409_CONFLICT)
        return Response(detail_data(request.user, order.pk))


class PortfolioCancelAllView(APIView):
    permission_classes = DESK_USERS

    @extend_schema(request=OrderCancelInput, responses=CancelAllOutput)
    def post(self, request, portfolio_id: int):
        from portfolio_app.models import Portfolio

        portfolio = get_object_or_404(Portfolio, pk=portfolio_id)
        data = OrderCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        n = orders_cancel_all(portfolio_id=portfolio.pk, actor=request.user, reason=data.validated_data["reason"] or "cancel all")
        return Response(CancelAllOutput({"cancelled": n}).data)


class VenueScorecardView(APIView):
    permission_classes = DESK_USERS

    @extend_schema(responses=VenueScoreOutput(many=True))
    def get(self, request):
        return Response(VenueScoreOutput(selectors.venue_scorecard(request.user), many=True).data)
