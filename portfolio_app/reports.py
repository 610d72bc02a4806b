"""Reads for the portfolio and proposal pages and API: the book at the mark, the frontier, chart geometry.

Charts are inline SVG drawn from numbers computed here (no chart library, no CDN).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache

from desk.interfaces import ConfigError
from portfolio_app.account import Account
from portfolio_app.models import Portfolio, Position, RebalanceProposal
from portfolio_app.optimisation import OptimisationError, PortfolioOptimiser, efficient_frontier_points
from market_app.selectors import price_frame
from portfolio_app.valuation import portfolio_value

CENT = Decimal("0.01")


@dataclass(frozen=True)
class BookRow:
    symbol: str
    name: str
    sector: str
    quantity: Decimal
    avg_cost: Decimal
    mark: Decimal | None
    market_value: Decimal
    weight: float
    unrealised_pnl: Decimal
    realised_pnl: Decimal


@dataclass(frozen=True)
class Book:
    portfolio: Portfolio
    market_time: datetime
    cash: Decimal
    nav: Decimal
    gross: Decimal
    net: Decimal
    unrealised_pnl: Decimal
    realised_pnl: Decimal
    positions: list[BookRow]

    @property
    def weights(self) -> dict[str, float]:
        return {r.symbol: r.weight for r in self.positions}


def portfolio_book(portfolio: Portfolio, market_now: datetime) -> Book:
    """Positions valued at the mark, with unrealised (mark vs average cost) and realised P&L.

    Raises ``MissingMark`` naming any held instrument without a price at ``market_now``.
    """
    positions = list(Position.objects.filter(portfolio=portfolio).select_related("instrument"))
    open_ = [p for p in positions if p.quantity]
    value = portfolio_value(portfolio, market_now, open_)
    rows = []
    for p in open_:
        v = value.positions[p.instrument.symbol]
        rows.append(BookRow(
            symbol=p.instrument.symbol, name=p.instrument.name, sector=p.instrument.sector, quantity=p.quantity,
            avg_cost=p.avg_cost, mark=v.mark, market_value=v.market_value.quantize(CENT), weight=v.weight,
            unrealised_pnl=v.unrealised_pnl.quantize(CENT), realised_pnl=p.realised_pnl,
        ))
    rows.sort(key=lambda r: -abs(r.market_value))
    return Book(
        portfolio=portfolio, market_time=market_now, cash=portfolio.cash, nav=value.nav.quantize(CENT),
        gross=value.gross.quantize(CENT), net=value.net.quantize(CENT),
        unrealised_pnl=sum((r.unrealised_pnl for r in rows), Decimal(0)),
        realised_pnl=sum((p.realised_pnl for p in positions), Decimal(0)), positions=rows,
    )


@dataclass(frozen=True)
class AccountFigures:
    """The account panel: what open orders reserve and what the portfolio may still buy (``account.py``)."""

    kind: str  # "cash account" / "margin account"
    initial_margin: Decimal | None  # margin accounts only
    reserved: Decimal
    buying_power: Decimal


def account_figures(book: Book, *, reserved: Decimal) -> AccountFigures:
    p = book.portfolio
    acct = Account(margin=p.long_short, initial_margin=p.initial_margin)
    return AccountFigures(
        kind=acct.kind, initial_margin=acct.initial_margin if acct.margin else None, reserved=reserved,
        buying_power=acct.buying_power(cash=book.cash, nav=book.nav, gross=book.gross, reserved=reserved),
    )


def latest_proposal(portfolio: Portfolio) -> RebalanceProposal | None:
    """The proposal to show against the current book: the open one, else the latest computed."""
    return (
        RebalanceProposal.objects.filter(portfolio=portfolio).exclude(target_weights={}).order_by("-created_at").first()
    )


def frontier_data(portfolio: Portfolio, *, market_now: datetime, current: dict[str, float],
                  proposal: RebalanceProposal | None = None, n: int = 20) -> dict[str, Any]:
    """The constrained efficient frontier at the market date, with the current and proposed portfolios.

    Cached per portfolio, market date and config for ten minutes (the closes behind it
    change once a session).
    """
    from desk.clock import NEW_YORK
    from portfolio_app.strategy import DESK_KEYS, optimiser_for, universe

    market_date = market_now.astimezone(NEW_YORK).date()
    params = {k: v for k, v in (portfolio.strategy_params or {}).items() if k not in DESK_KEYS}
    key = f"pf:frontier:{portfolio.pk}:{market_date}:{hash((repr(params), repr(portfolio.constraints)))}"
    out: dict[str, Any] = {"points": [], "current": None, "proposed": None, "proposal_id": None, "error": None}
    try:
        instruments = universe(portfolio, (portfolio.strategy_params or {}).get("universe"))
        sectors = {s: i.sector for s, i in instruments.items()}
        opt = optimiser_for(portfolio, sectors)
        lookback = int(opt.p["lookback_days"])
        since = market_date - timedelta(days=int(lookback * 365 / 252) + 14)
        prices = price_frame([i.pk for i in instruments.values()], before=market_date, since=since)
        if prices.empty:
            raise OptimisationError("too_few_prices", "There are no closing prices yet to draw the frontier from.")
        base = {k: v for k, v in opt.params.items()}
        base.pop("target_volatility", None)
        base.pop("target_return", None)
        points = cache.get(key)
        if points is None:
            points = efficient_frontier_points(prices, n, params=base, constraints=opt.constraints.source or None)
            cache.set(key, points, 600)
        out["points"] = [{"volatility": v, "expected_return": r} for v, r in points]
        evaluator = PortfolioOptimiser("min_volatility", params=base)
        m = evaluator.evaluate(prices=prices, weights=current)
        out["current"] = {"volatility": m.volatility, "expected_return": m.expected_return}
        if proposal is not None and proposal.target_weights:
            m = evaluator.evaluate(prices=prices, weights=proposal.target_weights)
            out["proposed"] = {"volatility": m.volatility, "expected_return": m.expected_return}
            out["proposal_id"] = proposal.pk
    except (OptimisationError, ConfigError) as e:
        out["error"] = str(e)
    return out


def frontier_svg(data: dict[str, Any], width: int = 560, height: int = 300, pad: int = 44) -> dict[str, Any] | None:
    """Pixel geometry of the frontier chart: the curve, the two markers, axis ticks (percent labels)."""
    pts = [(p["volatility"], p["expected_return"]) for p in data["points"]]
    marks = [(k, data[k]) for k in ("current", "proposed") if data.get(k)]
    xs = [v for v, _ in pts] + [m["volatility"] for _, m in marks]
    ys = [r for _, r in pts] + [m["expected_return"] for _, m in marks]
    if not xs:
        return None
    x0, x1 = min(0.0, min(xs)), max(xs) * 1.08 or 0.01
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.1 if max(ys) > 0 else 0.01

    def sx(v: float) -> float:
        return round(pad + (v - x0) / (x1 - x0) * (width - pad - 10), 1)

    def sy(r: float) -> float:
        return round(height - pad + 10 - (r - y0) / (y1 - y0) * (height - pad - 10), 1)

    ticks_x = [{"x": sx(x0 + (x1 - x0) * k / 4), "label": f"{(x0 + (x1 - x0) * k / 4) * 100:.0f}%"} for k in range(5)]
    ticks_y = [{"y": sy(y0 + (y1 - y0) * k / 4), "label": f"{(y0 + (y1 - y0) * k / 4) * 100:.0f}%"} for k in range(5)]
    return {
        "width": width, "height": height, "left": pad, "bottom": height - pad + 10,
        "curve": " ".join(f"{sx(v)},{sy(r)}" for v, r in pts),
        "markers": [
            {"name": k, "x": sx(m["volatility"]), "y": sy(m["expected_return"]),
             "label": f"{k} {m['volatility']:.1%} / {m['expected_return']:.1%}"}
            for k, m in marks
        ],
        "ticks_x": ticks_x, "ticks_y": ticks_y,
    }


def allocation_rows(current: dict[str, float], target: dict[str, float], limit: int = 40) -> list[dict[str, Any]]:
    """Current vs target weight per symbol, largest first, with bar widths in percent of the widest."""
    symbols = sorted(set(current) | set(target), key=lambda s: -max(abs(current.get(s, 0.0)), abs(target.get(s, 0.0))))
    top = max([abs(current.get(s, 0.0)) for s in symbols] + [abs(target.get(s, 0.0)) for s in symbols] + [1e-9])
    rows = []
    for s in symbols[:limit]:
        c, t = float(current.get(s, 0.0)), float(target.get(s, 0.0))
        if abs(c) < 5e-5 and abs(t) < 5e-5:
            continue
        rows.append({"symbol": s, "current": c, "target": t, "delta": t - c,
                     "current_w": round(abs(c) / top * 100, 1), "target_w": round(abs(t) / top * 100, 1)})
    return rows
