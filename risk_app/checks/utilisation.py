"""How close a portfolio stands to each limit right now: the risk page's bars.

Utilisation is value / threshold (1.0 = at the limit, above 1 = over), measured
on the committed book (positions plus open orders as if filled), exactly as the
pre-trade checks read it.  Limits that are properties of an order are shown by
the portfolio's open orders (largest quantity, largest notional, restricted
instruments held); the price collar and duplicate window have no standing
value and read 0.  Limits scoped to another portfolio are left out; so is VaR
when no returns are given, and the order rate when no time is.
"""

from __future__ import annotations

from collections.abc import Iterable

from desk.interfaces import PortfolioSnapshot

from . import limits as K
from .book import EMPTY_CONTEXT, Book, Compiled, RiskContext, var_of
from .limits import Limit


def limit_utilisation(
    limits: Iterable[Limit],
    snapshot: PortfolioSnapshot,
    context: RiskContext | None = None,
) -> dict[str, float]:
    """``{limit.key: utilisation}`` for the enabled limits that apply to ``snapshot``'s portfolio."""
    ctx = context or EMPTY_CONTEXT
    bk = Book(snapshot, ctx)
    nav = bk.nav
    inv_nav = 1.0 / nav if nav > 0 else float("inf")
    out: dict[str, float] = {}
    for lim in limits:
        if not lim.enabled:
            continue
        c = Compiled(lim)
        if c.scope == K.SCOPE_PORTFOLIO and c.skey != str(snapshot.portfolio_id):
            continue
        value = _value(c, bk, snapshot, ctx, inv_nav)
        if value is None:
            continue
        out[c.key] = value if c.kind in (K.RESTRICTED_INSTRUMENTS, K.PRICE_COLLAR_PCT, K.DUPLICATE_WINDOW_S) else c.util(value)
    return out


def _value(c: Compiled, bk: Book, snapshot: PortfolioSnapshot, ctx: RiskContext, inv_nav: float) -> float | None:
    k = c.kind
    only = c.skey if c.scope == K.SCOPE_INSTRUMENT else None
    values = {s: v for s, v in bk.value.items() if only is None or s == only}
    orders = [o for o in snapshot.open_orders if only is None or o.symbol == only]
    if k == K.MAX_ORDER_QTY:
        return max((float(o.quantity) for o in orders), default=0.0)
    if k == K.MAX_ORDER_NOTIONAL:
        return max((float(o.quantity) * (bk.price_for(o) or 0.0) for o in orders), default=0.0)
    if k in (K.PRICE_COLLAR_PCT, K.DUPLICATE_WINDOW_S):
        return 0.0
    if k == K.RESTRICTED_INSTRUMENTS:
        return 1.0 if any(bk.qty.get(s, 0.0) != 0.0 for s in c.symbols if only is None or s == only) else 0.0
    if k == K.MAX_POSITION_NOTIONAL:
        return max((abs(v) for v in values.values()), default=0.0)
    if k == K.MAX_CONCENTRATION:
        return max((abs(v) for v in values.values()), default=0.0) * inv_nav
    if k == K.MAX_GROSS_EXPOSURE:
        return bk.gross
    if k == K.MAX_LEVERAGE:
        return bk.gross * inv_nav
    if k == K.MAX_NET_EXPOSURE:
        return abs(bk.net) * inv_nav
    if k == K.MAX_SECTOR_CONCENTRATION:
        if only is not None:
            sec = bk.sector(only)
            return bk.sector_gross.get(sec, 0.0) * inv_nav if sec else 0.0
        return max(bk.sector_gross.values(), default=0.0) * inv_nav
    if k == K.MAX_DAILY_LOSS:
        return bk.loss
    if k == K.MAX_DRAWDOWN:
        return bk.drawdown
    if k == K.MAX_VAR_95:
        pnl = bk.base_pnl()
        return None if pnl is None else max(0.0, var_of(pnl, c.method))
    if k == K.MAX_ORDER_RATE:
        when = ctx.now or snapshot.as_of
        return None if when is None else bk.rate_count(when.timestamp(), c.window_s) / c.window_s
    return None
