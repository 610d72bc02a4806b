"""The one book valuation: NAV, exposures and weights at the mark (DESIGN.md, "Positions and P&L").

``book_value`` is pure (positions, cash and marks in; figures out); ``portfolio_value``
reads a portfolio's open positions and takes their marks once from the desk's one mark
rule (``market_app.marks.marks_at``). A position without a mark is an error naming the
instrument (``MissingMark``), never valued at zero, at cost or at a later price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from market_app.marks import MissingMark, marks_at


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    quantity: Decimal
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class PositionValue:
    symbol: str
    quantity: Decimal
    avg_cost: Decimal
    mark: Decimal
    market_value: Decimal
    weight: float

    @property
    def unrealised_pnl(self) -> Decimal:
        return (self.mark - self.avg_cost) * self.quantity


@dataclass(frozen=True, slots=True)
class BookValue:
    market_time: datetime
    cash: Decimal
    nav: Decimal
    gross: Decimal
    net: Decimal
    positions: dict[str, PositionValue]

    @property
    def marks(self) -> dict[str, Decimal]:
        return {s: p.mark for s, p in self.positions.items()}

    @property
    def weights(self) -> dict[str, float]:
        return {s: p.weight for s, p in self.positions.items()}


def book_value(*, cash: Decimal, holdings: Iterable[Holding], marks: Mapping[str, Decimal],
               market_time: datetime) -> BookValue:
    """NAV = cash + sum qty x mark; gross = sum |value|, net = sum value; weight = value / NAV (0 when NAV <= 0).

    Positions with zero quantity are left out and need no mark; raises ``MissingMark`` for the others without one.
    """
    open_ = [h for h in holdings if h.quantity]
    missing = [h.symbol for h in open_ if h.symbol not in marks]
    if missing:
        raise MissingMark(missing, market_time)
    values = {h.symbol: h.quantity * marks[h.symbol] for h in open_}
    net = sum(values.values(), Decimal(0))
    gross = sum((abs(v) for v in values.values()), Decimal(0))
    nav = Decimal(cash) + net
    positions = {
        h.symbol: PositionValue(h.symbol, h.quantity, h.avg_cost, marks[h.symbol], values[h.symbol],
                                float(values[h.symbol] / nav) if nav > 0 else 0.0)
        for h in open_
    }
    return BookValue(market_time=market_time, cash=Decimal(cash), nav=nav, gross=gross, net=net, positions=positions)


def portfolio_value(portfolio, market_time: datetime, positions=None) -> BookValue:
    """The portfolio's book valued at ``market_time``, calling the mark rule once.

    ``positions``: its ``Position`` rows with their instruments, when the caller has read them already.
    """
    if positions is None:
        from portfolio_app.models import Position

        positions = Position.objects.filter(portfolio=portfolio).exclude(quantity=0).select_related("instrument")
    holdings = [Holding(p.instrument.symbol, p.quantity, p.avg_cost) for p in positions if p.quantity]
    return book_value(cash=portfolio.cash, holdings=holdings, marks=marks_at([h.symbol for h in holdings], market_time),
                      market_time=market_time)
