"""Proposal and portfolio endpoints of /api/v1/ (thin: validate, authorise, call a service, serialise).

Status codes: 202 a proposal was requested (or the open one returned); 403 not a
Trader owning the portfolio; 404 not visible; 409 the proposal is no longer pending
(approved already, rejected, expired, stale, failed, shadow); 400 a rejection without
a reason.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from execution_app import roles
from execution_app.clock_service import get_clock
from portfolio_app import reports, services
from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.selectors import open_proposal, portfolios_visible_to, proposal_with_trades, proposals_visible_to

from .serializers import (
    FrontierOutput,
    FrontierQuery,
    PortfolioDetailOutput,
    ProposalDetailOutput,
    ProposalListQuery,
    ProposalOutput,
    ProposalRequestOutput,
    RejectInput,
)

ERROR = OpenApiResponse(description="{detail: reason}")


def _detail(p: RebalanceProposal) -> dict:
    return ProposalDetailOutput(proposal_with_trades(p.pk)).data


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


class PortfolioProposalRequestView(APIView):
    """Ask for a rebalance now: 202 with the new proposal's id (computed by the optimisation task),
    or the portfolio's open proposal (``created`` false) — one open proposal per portfolio."""

    permission_classes = [roles.IsTrader]

    @extend_schema(request=None, responses={202: ProposalRequestOutput, 403: ERROR, 404: ERROR})
    def post(self, request, portfolio_id: int):
        portfolio = get_object_or_404(Portfolio, pk=portfolio_id)
        if not services.may_decide(request.user, portfolio):
            return Response({"detail": f"Only a trader who owns {portfolio.name} may request its rebalance."}, status=403)
        p, created = services.proposal_request(
            portfolio_id=portfolio.pk, trigger=f"on demand by {request.user.get_username()}", actor=request.user
        )
        body = ProposalRequestOutput({"id": p.pk, "status": p.status, "created": created}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _decision_error(e: Exception) -> Response:
    if isinstance(e, services.ProposalForbidden):
        return Response({"detail": str(e)}, status=403)
    if isinstance(e, services.ReasonRequired):
        return Response({"reason": [str(e)]}, status=400)
    return Response({"detail": str(e) or "The proposal is no longer pending."}, status=409)


DECISION_ERRORS = (services.ProposalError, services.IllegalTransition)


class ProposalApproveView(APIView):
    permission_classes = [roles.IsTrader]

    @extend_schema(request=None, responses={200: ProposalDetailOutput, 403: ERROR, 404: ERROR, 409: ERROR}, examples=[
        OpenApiExample("already decided", response_only=True, status_codes=["409"],
                       value={"code": "conflict", "message": "Proposal #12 is already EXECUTING.", "errors": []}),
        OpenApiExample("not an owning trader", response_only=True, status_codes=["403"], value={
            "code": "permission_denied", "message": "Only a trader who owns Core Equity may decide its proposals.", "errors": []}),
    ])
    def post(self, request, proposal_id: int):
        p = get_object_or_404(RebalanceProposal, pk=proposal_id)
        try:
            p = services.proposal_approve(proposal_id=p.pk, actor=request.user)
        except services.IllegalTransition:
            current = RebalanceProposal.objects.get(pk=proposal_id)
            return Response({"detail": f"Proposal #{proposal_id} is already {current.status}."}, status=409)
        except services.ProposalError as e:
            return _decision_error(e)
        return Response(_detail(p))


class ProposalRejectView(APIView):
    permission_classes = [roles.IsTrader]

    @extend_schema(request=RejectInput, responses={200: ProposalDetailOutput, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR}, examples=[
        OpenApiExample("reject", request_only=True, value={"reason": "Turnover too high before the earnings season."}),
        OpenApiExample("no reason", response_only=True, status_codes=["400"], value={
            "code": "invalid", "message": "reason: This field may not be blank.",
            "errors": [{"field": "reason", "reason": "This field may not be blank.", "code": "blank"}]}),
    ])
    def post(self, request, proposal_id: int):
        p = get_object_or_404(RebalanceProposal, pk=proposal_id)
        data = RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            p = services.proposal_reject(proposal_id=p.pk, actor=request.user, reason=data.validated_data["reason"])
        except DECISION_ERRORS as e:
            return _decision_error(e)
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
