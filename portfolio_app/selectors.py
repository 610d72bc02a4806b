"""Portfolio reads: who sees what, positions valued at the mark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import OuterRef, Subquery

from execution_app import roles
from portfolio_app.models import Instrument, Portfolio, Position, PriceBar


def portfolios_visible_to(user):
    if roles.sees_all_portfolios(user):
        return Portfolio.objects.all()
    if roles.is_trader(user):
        return Portfolio.objects.filter(traders=user)
    return Portfolio.objects.none()


def portfolio_ids_visible_to(user) -> list[int]:
    return list(portfolios_visible_to(user).values_list("id", flat=True))


def latest_closes(instrument_ids, as_of: date | None = None) -> dict[int, Decimal]:
    """The last close on or before ``as_of`` per instrument: one query.

    A correlated subquery on the (instrument, date) unique index; aggregating the max
    date and joining it back is refused by SQLite ("HAVING clause on a non-aggregate query").
    """
    last = PriceBar.objects.filter(instrument_id=OuterRef("instrument_id"))
    if as_of is not None:
        last = last.filter(date__lte=as_of)
    last = last.order_by("-date").values("date")[:1]
    rows = PriceBar.objects.filter(instrument_id__in=list(instrument_ids), date=Subquery(last)).order_by()
    return dict(rows.values_list("instrument_id", "close"))


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


# --- Prices and marks for portfolio construction (issue 5) -----------------------------


def price_frame(instrument_ids, *, before: date, since: date | None = None):
    """Closes known before ``before`` (dates x symbols, float), one query, read as columns.

    The optimiser sees only closes strictly before the market date: today's close is not
    known until the session ends, and a live proposal must not look ahead.
    """
    import pandas as pd

    bars = PriceBar.objects.filter(instrument_id__in=list(instrument_ids), date__lt=before)
    if since is not None:
        bars = bars.filter(date__gte=since)
    rows = list(bars.values_list("date", "instrument__symbol", "close"))
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows, columns=["date", "symbol", "close"])
    frame["close"] = frame["close"].astype(float)
    wide = frame.pivot(index="date", columns="symbol", values="close").sort_index()
    wide.index = pd.DatetimeIndex(wide.index)
    return wide


def marks_at(symbols, market_now) -> dict[str, Decimal]:
    """The mark of each symbol at market time ``market_now`` (DESIGN.md, "Intraday prices").

    The replayed intraday path when the orders app provides it, else the last close on
    or before the market date; symbols with neither are left out.
    """
    from zoneinfo import ZoneInfo

    symbols = list(symbols)
    out: dict[str, Decimal] = {}
    try:
        from orders_app.market import mark
    except ImportError:  # pragma: no cover - the orders app always ships it
        mark = None
    if mark is not None:
        for s in symbols:
            try:
                out[s] = mark(s, market_now)
            except LookupError:
                continue
    missing = [s for s in symbols if s not in out]
    if missing:
        market_date = market_now.astimezone(ZoneInfo("America/New_York")).date()
        ids = dict(Instrument.objects.filter(symbol__in=missing).values_list("id", "symbol"))
        for iid, close in latest_closes(ids, market_date).items():
            out[ids[iid]] = close
    return out


def open_proposal(portfolio_id: int):
    from portfolio_app.models import OPEN_PROPOSAL_STATUSES, RebalanceProposal

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
