"""The market clock on /api/v1/."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from market_app.clock import get_clock


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
        clock = get_clock()
        return Response(ClockOutput({
            "wall_time": clock.now(), "market_time": clock.market_now(), "market_date": clock.market_date(),
            "session_open": bool(getattr(clock, "is_session_open", lambda: False)()), "display_tz": settings.DESK_DISPLAY_TZ,
        }).data)
