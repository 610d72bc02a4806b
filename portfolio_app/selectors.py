"""Portfolio reads: who sees what, proposals (the book at the mark: ``reports.portfolio_book``)."""

from __future__ import annotations

from desk import roles
from portfolio_app.models import Portfolio


def portfolios_visible_to(user):
    if roles.sees_all_portfolios(user):
        return Portfolio.objects.all()
    if roles.is_trader(user):
        return Portfolio.objects.filter(traders=user)
    return Portfolio.objects.none()


def portfolio_ids_visible_to(user) -> list[int]:
    return list(portfolios_visible_to(user).values_list("id", flat=True))


def open_proposal(portfolio_id: int):
    from portfolio_app.models import RebalanceProposal
    from portfolio_app.states import OPEN_PROPOSAL_STATUSES

    return RebalanceProposal.objects.filter(portfolio_id=portfolio_id, status__in=OPEN_PROPOSAL_STATUSES).first()


def proposals_visible_to(user):
    from portfolio_app.models import RebalanceProposal

    return RebalanceProposal.objects.filter(portfolio__in=portfolios_visible_to(user)).select_related(
        "portfolio", "created_by", "decided_by"
    )


def proposal_with_trades(proposal_id: int):
    from portfolio_app.models import RebalanceProposal

    return (
        RebalanceProposal.objects.select_related("portfolio", "created_by", "decided_by")
        .prefetch_related("trades__instrument")
        .get(pk=proposal_id)
    )


def may_decide(user, portfolio: Portfolio) -> bool:
    """Only a Trader who owns the portfolio may approve or reject its proposals (DESIGN.md, "Roles")."""
    return roles.is_trader(user) and portfolio.traders.filter(pk=user.pk).exists()
