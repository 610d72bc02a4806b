"""Portfolio reads: who sees what, positions valued at the mark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from desk import roles
from market_app.selectors import latest_closes, marks_at
from portfolio_app.models import Portfolio, Position


def portfolios_visible_to(user):
    if roles.sees_all_portfolios(user):
        return Portfolio.objects.all()
    if roles.is_trader(user):
        return Portfolio.objects.filter(traders=user)
    return Portfolio.objects.none()


def portfolio_ids_visible_to(user) -> list[int]:
    return list(portfolios_visible_to(user).values_list("id", flat=True))


@dataclass(frozen=True)
class PositionRow:
    symbol: str
    name: str
    sector: str
    quantity: Decimal
    avg_cost: Decimal
    mark: Decimal | None
    market_value: Decimal
    unrealised_pnl: Decimal
    realised_pnl: Decimal


@dataclass(frozen=True)
class PortfolioOverview:
    portfolio: Portfolio
    cash: Decimal
    positions: list[PositionRow]
    nav: Decimal
    gross: Decimal
    net: Decimal


def portfolio_overview(portfolio: Portfolio, as_of: date | datetime | None = None) -> PortfolioOverview:
    """Positions valued at the mark: a market *time* values them at the replayed intraday
    marks (``marks_at``, DESIGN.md "Intraday prices"); a market *date* at that day's close."""
    positions = list(Position.objects.filter(portfolio=portfolio).select_related("instrument").exclude(quantity=0))
    if isinstance(as_of, datetime):
        by_symbol = marks_at([p.instrument.symbol for p in positions], as_of)
        marks = {p.instrument_id: by_symbol[p.instrument.symbol] for p in positions if p.instrument.symbol in by_symbol}
    else:
        marks = latest_closes([p.instrument_id for p in positions], as_of)
    rows = []
    gross = net = Decimal(0)
    for p in positions:
        mark = marks.get(p.instrument_id)
        mv = (p.quantity * mark) if mark is not None else Decimal(0)
        gross += abs(mv)
        net += mv
        rows.append(
            PositionRow(
                symbol=p.instrument.symbol,
                name=p.instrument.name,
                sector=p.instrument.sector,
                quantity=p.quantity,
                avg_cost=p.avg_cost,
                mark=mark,
                market_value=mv.quantize(Decimal("0.01")),
                unrealised_pnl=((mark - p.avg_cost) * p.quantity).quantize(Decimal("0.01")) if mark is not None else Decimal(0),
                realised_pnl=p.realised_pnl,
            )
        )
    nav = portfolio.cash + net
    return PortfolioOverview(portfolio=portfolio, cash=portfolio.cash, positions=rows, nav=nav, gross=gross, net=net)


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
