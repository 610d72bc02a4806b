"""How close a portfolio stands to each limit right now: the risk page's bars.

Utilisation is value / threshold (1.0 = at the limit, above 1 = over), measured
on the committed book (positions plus open orders as if filled), exactly as the
pre-trade checks read it.  Limits that are properties of an order are shown by
the portfolio's open orders (largest quantity, largest notional, restricted
instruments held); the price collar and duplicate window have no standing
value and read 0.  Limits scoped to another portfolio are left out; so is VaR
when no returns are given, and the order rate when no time is.  Each figure is
its limit kind's own ``measure`` (``kinds.py``) over the standing book.  A desk-wide
limit (``desk.py``) shows the desk's figure when the context carries the desk books, and is
left out of a portfolio it does not concern.
"""

from __future__ import annotations

from collections.abc import Iterable

from desk.interfaces import PortfolioSnapshot

from . import limits as K
from .book import EMPTY_CONTEXT, Book, RiskContext, var_of
from .desk import DeskView
from .kinds import compile_limit
from .limits import Limit


class StandingExposure:
    """The book as it stands (no order being sent), optionally narrowed to one instrument.

    A figure of one instrument or one order reads the largest over the
    portfolio (or the named instrument): the largest position, the largest
    open order.  Nothing is being sent, so no figure grows by it.
    """

    position_grows = net_grows = not_reducing = None

    def __init__(self, bk: Book, snapshot: PortfolioSnapshot, ctx: RiskContext, only: str | None):
        self.bk, self.snapshot, self.ctx, self.only = bk, snapshot, ctx, only
        nav = bk.nav
        self.inv_nav = 1.0 / nav if nav > 0 else float("inf")
        self.gross_after, self.net_after = bk.gross, bk.net
        self.loss, self.drawdown = bk.loss, bk.drawdown

    def _orders(self):
        return [o for o in self.snapshot.open_orders if self.only is None or o.symbol == self.only]

    @property
    def order_qty(self) -> float:
        return max((float(o.quantity) for o in self._orders()), default=0.0)

    @property
    def order_notional(self) -> float:
        return max((float(o.quantity) * (self.bk.price_for(o) or 0.0) for o in self._orders()), default=0.0)

    @property
    def position_value(self) -> float:
        return max((abs(v) for s, v in self.bk.value.items() if self.only is None or s == self.only), default=0.0)

    def lacks(self, need: str) -> str | None:
        return "" if need == "returns" and self.ctx.returns is None else None

    def sector_gross_after(self) -> float:
        bk = self.bk
        if self.only is not None:
            sec = bk.sector(self.only)
            return bk.sector_gross.get(sec, 0.0) if sec else 0.0
        return max(bk.sector_gross.values(), default=0.0)

    def restricted(self, symbols: frozenset) -> float:
        held = any(self.bk.qty.get(s, 0.0) != 0.0 for s in symbols if self.only is None or s == self.only)
        return 1.0 if held else 0.0

    def collar_pct(self) -> float:
        return 0.0  # a collar is a property of an order's price: no standing value

    def collar_last(self) -> float:
        return 0.0

    def since_same_order(self) -> float:
        return float("inf")  # no order being sent duplicates anything

    def var_after(self, method: str) -> tuple[float, None]:
        return max(0.0, var_of(self.bk.base_pnl(), method)), None

    def orders_in_window(self, window_s: float) -> int | None:
        when = self.ctx.now or self.snapshot.as_of
        return None if when is None else self.bk.rate_count(when.timestamp(), window_s)


def limit_utilisation(
    limits: Iterable[Limit],
    snapshot: PortfolioSnapshot,
    context: RiskContext | None = None,
) -> dict[str, float]:
    """``{limit.key: utilisation}`` for the enabled limits that apply to ``snapshot``'s portfolio."""
    ctx = context or EMPTY_CONTEXT
    bk = Book(snapshot, ctx)
    exposures: dict[str | None, StandingExposure] = {}
    out: dict[str, float] = {}
    for lim in limits:
        if not lim.enabled:
            continue
        c = compile_limit(lim)
        if c.scope == K.SCOPE_PORTFOLIO and c.skey != str(snapshot.portfolio_id):
            continue
        if c.scope == K.SCOPE_DESK and not c.concerns(snapshot.portfolio_id):
            continue
        only = c.skey if c.scope == K.SCOPE_INSTRUMENT else None
        x = exposures.get(only)
        if x is None:
            x = exposures[only] = StandingExposure(bk, snapshot, ctx, only)
        if c.needs is not None and x.lacks(c.needs) is not None:
            continue
        if ctx.desk is not None and c.desk_wide:
            figures = ctx.desk.get(c.desk_key)
            if figures is None:
                continue
            when = ctx.now or snapshot.as_of
            value, _ = c.measure(DeskView(x, figures, t=when.timestamp() if when is not None else None))
        else:
            value, _ = c.measure(x)
        if value is None:
            continue
        out[c.key] = c.util(value)
    return out
