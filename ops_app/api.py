"""Account endpoints of /api/v1/ (thin: validate, call a service, serialise)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from ops_app.accounts import token_revoke, token_rotate


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
