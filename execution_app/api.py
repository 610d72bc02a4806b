"""The rebalance workflow's commands on /api/v1/: request a proposal, approve or reject it.

Thin: validate, authorise, call a service, serialise.  Status codes: 202 a proposal was
requested (or the open one returned); 403 not a Trader owning the portfolio; 404 not
visible; 409 the proposal is no longer pending (approved already, rejected, expired,
stale, failed, shadow); 400 a rejection without a reason.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import roles
from execution_app.rebalance import approval
from execution_app.rebalance import services as rebalance
from portfolio_app import services as portfolio_services
from portfolio_app.api import _detail
from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.serializers import ProposalDetailOutput, ProposalRequestOutput, RejectInput

ERROR = OpenApiResponse(description="{detail: reason}")


class PortfolioProposalRequestView(APIView):
    """Ask for a rebalance now: 202 with the new proposal's id (computed by the optimisation task),
    or the portfolio's open proposal (``created`` false) — one open proposal per portfolio."""

    permission_classes = [roles.IsTrader]

    @extend_schema(request=None, responses={202: ProposalRequestOutput, 403: ERROR, 404: ERROR})
    def post(self, request, portfolio_id: int):
        portfolio = get_object_or_404(Portfolio, pk=portfolio_id)
        p, created = rebalance.proposal_request(
            portfolio_id=portfolio.pk, trigger=f"on demand by {request.user.get_username()}", actor=request.user
        )
        body = ProposalRequestOutput({"id": p.pk, "status": p.status, "created": created}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _decision_error(e: Exception) -> Response:
    if isinstance(e, portfolio_services.ProposalForbidden):
        return Response({"detail": str(e)}, status=403)
    if isinstance(e, portfolio_services.ReasonRequired):
        return Response({"reason": [str(e)]}, status=400)
    return Response({"detail": str(e) or "The proposal is no longer pending."}, status=409)


DECISION_ERRORS = (portfolio_services.ProposalError, portfolio_services.IllegalTransition)


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
            p = approval.proposal_approve(proposal_id=p.pk, actor=request.user)
        except portfolio_services.IllegalTransition:
            current = RebalanceProposal.objects.get(pk=proposal_id)
            return Response({"detail": f"Proposal #{proposal_id} is already {current.status}."}, status=409)
        except portfolio_services.ProposalError as e:
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
            p = approval.proposal_reject(proposal_id=p.pk, actor=request.user, reason=data.validated_data["reason"])
        except DECISION_ERRORS as e:
            return _decision_error(e)
        return Response(_detail(p))
