"""Proposal and portfolio endpoints of /api/v1/ (thin: validate, authorise, call a service, serialise).

Status codes: 202 a proposal was requested (or the open one returned); 403 not a
Trader owning the portfolio; 404 not visible; 409 the proposal is no longer pending
(approved already, rejected, expired, stale, failed, shadow); 400 a rejection without
a reason.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from market_app.clock import get_clock
from portfolio_app import reports
from portfolio_app.models import RebalanceProposal
from portfolio_app.selectors import open_proposal, portfolios_visible_to, proposal_with_trades, proposals_visible_to

from .serializers import (
    FrontierOutput,
    FrontierQuery,
    PortfolioDetailOutput,
    ProposalDetailOutput,
    ProposalListQuery,
    ProposalOutput,
)

ERROR = OpenApiResponse(description="{detail: reason}")


def _detail(p: RebalanceProposal) -> dict:
    return ProposalDetailOutput(proposal_with_trades(p.pk)).data


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



class ProposalListView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(parameters=[ProposalListQuery], responses=ProposalOutput(many=True))
    def get(self, request):
        query = ProposalListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        qs = proposals_visible_to(request.user).order_by("-created_at", "-id")
        if q.get("status"):
            qs = qs.filter(status=q["status"].upper())
        if q.get("portfolio"):
            qs = qs.filter(portfolio_id=q["portfolio"])
        return Response(ProposalOutput(qs[: q["limit"]], many=True).data)


class ProposalDetailView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(responses=ProposalDetailOutput)
    def get(self, request, proposal_id: int):
        p = get_object_or_404(proposals_visible_to(request.user), pk=proposal_id)
        return Response(_detail(p))


class PortfolioDetailView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(responses=PortfolioDetailOutput)
    def get(self, request, portfolio_id: int):
        portfolio = get_object_or_404(portfolios_visible_to(request.user), pk=portfolio_id)
        book = reports.portfolio_book(portfolio, get_clock().market_now())
        op = open_proposal(portfolio.pk)
        body = {
            "id": portfolio.pk, "name": portfolio.name, "base_currency": portfolio.base_currency,
            "mode": portfolio.mode, "strategy": portfolio.strategy, "rebalance_policy": portfolio.rebalance_policy,
            "cash": book.cash, "nav": book.nav, "gross": book.gross, "net": book.net,
            "unrealised_pnl": book.unrealised_pnl, "realised_pnl": book.realised_pnl,
            "market_time": book.market_time, "positions": book.positions,
            "open_proposal_id": op.pk if op else None,
        }
        return Response(PortfolioDetailOutput(body).data)


class PortfolioFrontierView(APIView):
    permission_classes = [roles.IsDeskUser]

    @extend_schema(parameters=[FrontierQuery], responses=FrontierOutput)
    def get(self, request, portfolio_id: int):
        portfolio = get_object_or_404(portfolios_visible_to(request.user), pk=portfolio_id)
        query = FrontierQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        n = query.validated_data["points"]
        market_now = get_clock().market_now()
        book = reports.portfolio_book(portfolio, market_now)
        data = reports.frontier_data(portfolio, market_now=market_now, current=book.weights,
                                     proposal=reports.latest_proposal(portfolio), n=n)
        return Response(FrontierOutput(data).data)
