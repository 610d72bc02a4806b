"""Portfolio reads: who sees what, positions valued at the mark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Max, OuterRef, Subquery

from execution_app import roles
from portfolio_app.models import Portfolio, Position, PriceBar


def portfolios_visible_to(user):
    if roles.sees_all_portfolios(user):
        return Portfolio.objects.all()
    if roles.is_trader(user):
        return Portfolio.objects.filter(traders=user)
    return Portfolio.objects.none()


def portfolio_ids_visible_to(user) -> list[int]:
    return list(portfolios_visible_to(user).values_list("id", flat=True))


def latest_closes(instrument_ids, as_of: date | None = None) -> dict[int, Decimal]:
    """The last close on or before ``as_of`` per instrument: one query."""
    bars = PriceBar.objects.filter(instrument_id__in=list(instrument_ids))
    if as_of is not None:
        bars = bars.filter(date__lte=as_of)
    last_dates = bars.values("instrument_id").annotate(d=Max("date"))
    sub = PriceBar.objects.filter(instrument_id=OuterRef("instrument_id"), date=OuterRef("d")).values("close")[:1]
    return {row["instrument_id"]: row["close"] for row in last_dates.annotate(close=Subquery(sub))}


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


def portfolio_overview(portfolio: Portfolio, as_of: date | None = None) -> PortfolioOverview:
    positions = list(Position.objects.filter(portfolio=portfolio).select_related("instrument").exclude(quantity=0))
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
