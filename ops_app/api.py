"""Account and portfolio endpoints of /api/v1/ (thin: validate, call a service, serialise)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from ops_app.accounts import token_revoke, token_rotate
from portfolio_app.selectors import portfolios_visible_to


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class MeView(APIView):
    @extend_schema(responses=MeOutput)
    def get(self, request):
        return Response(MeOutput({"username": request.user.username, "roles": sorted(roles.roles_of(request.user))}).data)


class TokenRotateView(APIView):
    """Replace the caller's token; the old one stops working at once."""

    @extend_schema(request=None, responses=inline_serializer("TokenOutput", {"token": serializers.CharField()}))
    def post(self, request):
        return Response({"token": token_rotate(user=request.user).key})


class TokenRevokeView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        token_revoke(user=request.user)
        return Response(status=204)


class PortfolioOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_currency = serializers.CharField()
    cash = serializers.DecimalField(max_digits=20, decimal_places=2)


class PortfolioListView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(responses=PortfolioOutput(many=True))
    def get(self, request):
        return Response(PortfolioOutput(portfolios_visible_to(request.user), many=True).data)


class ClockOutput(serializers.Serializer):
    wall_time = serializers.DateTimeField()
    market_time = serializers.DateTimeField()
    market_date = serializers.DateField()
    session_open = serializers.BooleanField()
    display_tz = serializers.CharField()


class ClockView(APIView):
    """The desk's market time (a replay of history): stamp signals with it, not with wall time."""

    @extend_schema(responses=ClockOutput)
    def get(self, request):
        from django.conf import settings

        from market_app.clock import get_clock

        clock = get_clock()
        return Response(ClockOutput({
            "wall_time": clock.now(), "market_time": clock.market_now(), "market_date": clock.market_date(),
            "session_open": bool(getattr(clock, "is_session_open", lambda: False)()), "display_tz": settings.DESK_DISPLAY_TZ,
        }).data)
