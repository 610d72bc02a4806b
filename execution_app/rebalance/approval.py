"""A trader's decision on a proposal: approve (creates and submits the parent orders) or reject.

Locking order is the
orders app's: portfolio row → proposal row → order rows, so approval, fills and
pre-trade checks of one portfolio serialise and cannot deadlock.
"""

from __future__ import annotations


from django.db import transaction

from desk import foureyes
from desk.interfaces import ProposalStatus
from portfolio_app.strategy import desk_params
from orders_app.services import order_create
from orders_app.submission import order_submit
from orders_app.working import proposal_settle
from portfolio_app import services as svc
from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.selectors import may_decide

S = ProposalStatus


def _authorise(p: RebalanceProposal, actor, verb: str) -> None:
    if actor is None or not may_decide(actor, p.portfolio):
        raise svc.ProposalForbidden(f"Only a trader who owns {p.portfolio.name} may {verb} its proposals.")


def _not_actionable(p: RebalanceProposal, verb: str):
    why = f" ({p.reason})" if p.reason else ""
    return svc.ProposalNotActionable(f"Proposal #{p.pk} is {p.status}{why}; it can no longer be {verb}.")


def _orders_create(p: RebalanceProposal, actor) -> list:
    desk = desk_params(p.portfolio)
    orders = []
    for row in p.trades.select_related("instrument"):
        order, _ = order_create(
            client_order_id=f"P{p.pk}-{row.instrument.symbol}",
            portfolio_id=p.portfolio_id,
            instrument_id=row.instrument_id,
            side=row.side,
            quantity=row.quantity,
            algo=desk["algo"],
            algo_params=desk["algo_params"],
            proposal_id=p.pk,
            arrival_px=row.price,
            created_by=actor,
        )
        orders.append(order)
    return orders


def proposal_approve(*, proposal_id: int, actor) -> RebalanceProposal:
    """PENDING_APPROVAL → APPROVED → EXECUTING, with one parent order per trade, submitted.

    Only a Trader who owns the portfolio (``ProposalForbidden``). An expired or stale
    proposal is closed first and refused (``ProposalNotActionable``). Locks the portfolio
    row, then the proposal's: of two concurrent approvals the second finds it decided and
    gets ``IllegalTransition``, changing nothing. Each order passes the pre-trade checks
    again at this moment (limits may have changed): SUBMITTED, or DENIED with reasons.
    """
    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    _authorise(p, actor, "approve")
    try:  # maker != checker: a trader's own request needs a second trader; a policy's, any of the portfolio's
        foureyes.second_person(p.created_by_id, actor.pk, noun="rebalance request", checker="trader of the portfolio")
    except foureyes.OwnRequest as exc:
        raise svc.ProposalForbidden(str(exc)) from None
    p = svc.proposal_refresh(proposal_id=p.pk)
    if p.status != S.PENDING_APPROVAL.value:
        raise _not_actionable(p, "approved")
    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=p.portfolio_id)
        p = svc.proposal_transition(proposal_id=p.pk, to=S.APPROVED.value, actor=actor)
        orders = _orders_create(p, actor)
        p = svc.proposal_transition(proposal_id=p.pk, to=S.EXECUTING.value, actor=actor)
        for o in orders:
            order_submit(order_id=o.pk, actor=actor)
        return proposal_settle(proposal_id=p.pk)


def proposal_reject(*, proposal_id: int, actor, reason: str) -> RebalanceProposal:
    """PENDING_APPROVAL → REJECTED with the trader's reason (required)."""
    reason = (reason or "").strip()
    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    _authorise(p, actor, "reject")
    if not reason:
        raise svc.ReasonRequired("A rejection needs a reason.")
    try:
        return svc.proposal_transition(proposal_id=p.pk, to=S.REJECTED.value, actor=actor, reason=reason)
    except svc.IllegalTransition:
        raise _not_actionable(RebalanceProposal.objects.get(pk=p.pk), "rejected") from None
