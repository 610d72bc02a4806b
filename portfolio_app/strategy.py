"""A portfolio's stored strategy, read into what the pure core takes.

``Portfolio.strategy_params`` holds the optimiser's parameters (see
``optimisation/optimiser.py``) plus the desk keys (``DESK_KEYS``), which the optimiser never sees::

    {"algo": "TWAP", "algo_params": {"slices": 4},   # how approved orders are worked
     "sizing": {"target_vol": 0.15, "max_weight": 0.1},  # risk_app.sizing.SizingConfig
     "cost_bps": 5,                                  # estimated trading cost
     "universe": ["AAPL", "MSFT"]}                   # default: every tradable equity
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from desk.interfaces import PortfolioSnapshot, PositionSnapshot
from market_app.models import Instrument
from portfolio_app.models import Portfolio, Position
from portfolio_app.optimisation import PortfolioOptimiser
from portfolio_app.valuation import Holding, book_value

DESK_KEYS = ("algo", "algo_params", "sizing", "cost_bps", "universe")


def desk_params(portfolio: Portfolio) -> dict[str, Any]:
    sp = dict(portfolio.strategy_params or {})
    return {
        "algo": str(sp.get("algo") or settings.DESK_PROPOSAL_ALGO).upper(),
        "algo_params": dict(sp.get("algo_params") or settings.DESK_PROPOSAL_ALGO_PARAMS),
        "sizing": {**settings.DESK_SIZING, **dict(sp.get("sizing") or {})},
        "cost_bps": sp.get("cost_bps", settings.DESK_PROPOSAL_COST_BPS),
        "universe": sp.get("universe"),
    }


def optimiser_for(portfolio: Portfolio, sectors: dict[str, str] | None = None) -> PortfolioOptimiser:
    """The portfolio's optimiser; raises ``ConfigError`` naming the bad key."""
    params = {k: v for k, v in (portfolio.strategy_params or {}).items() if k not in DESK_KEYS}
    constraints = dict(portfolio.constraints or {})
    if portfolio.long_short:
        constraints.setdefault("long_short", True)
        constraints.setdefault("gross_limit", float(portfolio.gross_limit))
    if sectors and (constraints.get("sector_upper") or constraints.get("sector_lower") or params.get("sector_risk_budgets")):
        constraints.setdefault("sector_mapper", {s: sec for s, sec in sectors.items() if sec})
    return PortfolioOptimiser.from_config({"strategy": portfolio.strategy, **params, "constraints": constraints})


def universe(portfolio: Portfolio, symbols: list[str] | None) -> dict[str, Instrument]:
    """The instruments a proposal may trade, plus any the portfolio holds."""
    held = Position.objects.filter(portfolio=portfolio).exclude(quantity=0).values_list("instrument_id", flat=True)
    qs = Instrument.objects.filter(tradable=True)
    qs = qs.filter(symbol__in=symbols) if symbols else qs.filter(asset_class=Instrument.AssetClass.EQUITY)
    return {i.symbol: i for i in (qs | Instrument.objects.filter(pk__in=list(held))).distinct()}


def snapshot_of(portfolio: Portfolio, marks: dict[str, Decimal], market_now: datetime) -> PortfolioSnapshot:
    """The book as the core reads it, valued at ``marks`` (raises ``MissingMark`` for a held instrument without one)."""
    positions = list(Position.objects.filter(portfolio=portfolio).exclude(quantity=0).select_related("instrument"))
    holdings = [Holding(p.instrument.symbol, p.quantity, p.avg_cost) for p in positions]
    value = book_value(cash=portfolio.cash, holdings=holdings, marks=marks, market_time=market_now)
    snaps = {
        p.instrument.symbol: PositionSnapshot(p.instrument.symbol, p.quantity, p.avg_cost,
                                              value.positions[p.instrument.symbol].mark, p.instrument.sector)
        for p in positions
    }
    return PortfolioSnapshot(
        portfolio.pk, portfolio.cash, snaps, long_short=portfolio.long_short, name=portfolio.name, as_of=market_now
    )
