"""The pre-trade check engine: one order against every limit that applies to it.

How each kind is measured (all against the *committed* book: positions plus
open orders as if filled, so orders that each fit cannot jointly breach):

- per order: quantity; notional at the order's price (limit, else reference,
  else mark); price collar |order price / last - 1| in percent (only when the
  order names a price and a last price is known); order rate = orders sent in
  the last ``window_s`` seconds, this one included, per second; duplicate = an
  order with the same symbol, side and quantity sent less than the window ago;
  restricted list.
- post-trade, at the mark, NAV unchanged by the trade (a trade at the mark
  moves cash and position value equally; fees are ignored): position notional
  |value|; gross exposure in USD; |net| exposure and leverage (gross) over NAV; instrument weight
  |value| / NAV; sector gross value / NAV (instruments with no known sector are
  not counted); 1-day 95% VaR of the post-trade book.  These breach only when
  the order makes the measure worse: an order that reduces an over-limit
  exposure passes, so a desk over a limit can always trade out of it.
- daily loss and drawdown are states, not order effects: once over the limit,
  only orders that shrink a position pass (the REDUCING rule).

A limit that cannot be evaluated (no price to value the order, no returns for
VaR, no time for a rate) blocks, saying what was missing: fail closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from desk.interfaces import OrderIntent, PortfolioSnapshot, RiskEngine, RiskVerdict, TradingState

from . import limits as K
from .book import EMPTY_CONTEXT, Book, Compiled, RiskContext, ts_of, var_of
from .limits import Limit
from .proposal import check_proposal
from .reasons import breach, reason, state_breach, unvalued

_WALL = frozenset(k for k, info in K.KINDS.items() if info.wall_clock)


def grows(new: float, old: float) -> bool:
    """|new| > |old| beyond float noise."""
    return abs(new) > abs(old) + 1e-9 * max(1.0, abs(old))


def is_reducing(q_old: float, dq: float) -> bool:
    """An order shrinks |position| without flipping it past zero."""
    return q_old != 0.0 and dq * q_old < 0.0 and abs(dq) <= abs(q_old) + 1e-9


class PreTradeRiskEngine(RiskEngine):
    """Built once from the active limits and reused; ``check`` is pure given its inputs.

    Disabled limits are dropped at build time.  Per-snapshot work is cached by
    identity (the last snapshot and context seen), so checking many orders
    against one snapshot pays it once.
    """

    def __init__(self, limits: Iterable[Limit], *, context: RiskContext | None = None, wall_clock: bool = True):
        self.limits = tuple(Compiled(lim) for lim in limits if lim.enabled)
        self.context = context or EMPTY_CONTEXT
        self.wall_clock = wall_clock
        self._desk = [c for c in self.limits if c.scope == K.SCOPE_DESK]
        self._by: dict[tuple[str, str], list[Compiled]] = {}
        for c in self.limits:
            if c.scope != K.SCOPE_DESK:
                self._by.setdefault((c.scope, c.skey), []).append(c)
        self._applicable_cache: dict[tuple, list[Compiled]] = {}
        self._cache: tuple | None = None

    # -- plumbing shared with the proposal path

    def applicable(self, portfolio_id, symbol: str, agent_id) -> list[Compiled]:
        key = (portfolio_id, symbol, agent_id)
        hit = self._applicable_cache.get(key)
        if hit is None:
            by = self._by
            hit = [
                c for c in self.limits
                if c.scope == K.SCOPE_DESK
                or c in by.get((K.SCOPE_PORTFOLIO, str(portfolio_id)), ())
                or c in by.get((K.SCOPE_INSTRUMENT, symbol), ())
                or (agent_id is not None and c in by.get((K.SCOPE_AGENT, str(agent_id)), ()))
            ]
            self._applicable_cache[key] = hit
        return hit

    def book(self, snapshot: PortfolioSnapshot, ctx: RiskContext) -> Book:
        cached = self._cache
        if cached is not None and cached[0] is snapshot and cached[1] is ctx:
            return cached[2]
        bk = Book(snapshot, ctx)
        self._cache = (snapshot, ctx, bk)
        return bk

    def uses_wall_clock(self, ctx: RiskContext) -> bool:
        return self.wall_clock and ctx.wall_clock

    @staticmethod
    def now_of(intent: OrderIntent, ctx: RiskContext, snapshot: PortfolioSnapshot, now: datetime | None) -> float | None:
        """Wall time for rate and duplicate limits: the call's, the intent's, the context's, the snapshot's."""
        return ts_of(now or intent.ts or ctx.now or snapshot.as_of)

    # -- the check

    def check(
        self,
        intent: OrderIntent,
        snapshot: PortfolioSnapshot,
        *,
        context: RiskContext | None = None,
        now: datetime | None = None,
    ) -> RiskVerdict:
        ctx = context or self.context
        bk = self.book(snapshot, ctx)
        sym = intent.symbol
        qty = float(intent.quantity)
        dq = qty if intent.side.sign > 0 else -qty
        q_old = bk.qty.get(sym, 0.0)
        reducing = is_reducing(q_old, dq)
        out = []
        if bk.state is TradingState.HALTED or (bk.state is TradingState.REDUCING and not reducing):
            out.append(state_breach(bk.state, snapshot.name or f"portfolio {snapshot.portfolio_id}", sym))

        px = bk.price_for(intent)
        mark = bk.mark_for(sym, px)
        mv_old = q_old * mark if mark is not None else 0.0
        mv_new = (q_old + dq) * mark if mark is not None else 0.0
        nav = bk.nav
        inv_nav = 1.0 / nav if nav > 0 else float("inf")
        wall = self.uses_wall_clock(ctx)
        t_now = None
        util: dict[str, float] = {}
        sector = ""

        for c in self.applicable(intent.portfolio_id, sym, intent.agent_id):
            k = c.kind
            if k in _WALL and not wall:
                continue
            if mark is None and k in K.PRICED:
                out.append(unvalued(c, sym, "no price to value the order"))
                continue
            bad = False
            extra = 0.0
            if k == K.MAX_ORDER_QTY:
                value = qty
                bad = c.over(value)
            elif k == K.MAX_ORDER_NOTIONAL:
                value = qty * px
                bad = c.over(value)
            elif k == K.MAX_CONCENTRATION:
                value = abs(mv_new) * inv_nav
                bad = c.over(value) and grows(mv_new, mv_old)
            elif k == K.MAX_POSITION_NOTIONAL:
                value = abs(mv_new)
                bad = c.over(value) and grows(mv_new, mv_old)
            elif k == K.MAX_GROSS_EXPOSURE:
                value = bk.gross - abs(mv_old) + abs(mv_new)
                bad = c.over(value) and grows(mv_new, mv_old)
            elif k == K.MAX_LEVERAGE:
                value = (bk.gross - abs(mv_old) + abs(mv_new)) * inv_nav
                bad = c.over(value) and grows(mv_new, mv_old)
            elif k == K.MAX_NET_EXPOSURE:
                net_new = bk.net + mv_new - mv_old
                value = abs(net_new) * inv_nav
                bad = c.over(value) and grows(net_new, bk.net)
            elif k == K.MAX_SECTOR_CONCENTRATION:
                sector = sector or bk.sector(sym, intent.sector)
                if not sector:
                    continue
                value = (bk.sector_gross.get(sector, 0.0) - abs(mv_old) + abs(mv_new)) * inv_nav
                bad = c.over(value) and grows(mv_new, mv_old)
            elif k == K.MAX_DAILY_LOSS:
                value = bk.loss
                bad = c.over(value) and not reducing
            elif k == K.MAX_DRAWDOWN:
                value = bk.drawdown
                bad = c.over(value) and not reducing
            elif k == K.RESTRICTED_INSTRUMENTS:
                bad = sym in c.symbols
                value = 1.0 if bad else 0.0
                util[c.key] = value
                if bad:
                    out.append(breach(c, value, reason(c, value, symbol=sym, side=intent.side, qty=qty)))
                continue
            elif k == K.PRICE_COLLAR_PCT:
                order_px = intent.limit_price if intent.limit_price is not None else intent.reference_price
                last = bk.last_price(sym)
                if order_px is None or not last:
                    util[c.key] = 0.0
                    continue
                value = abs(float(order_px) / last - 1.0) * 100.0
                extra = last
                bad = c.over(value)
            elif k == K.MAX_VAR_95:
                r = ctx.returns
                j = r.index.get(sym) if r is not None else None
                if j is None:
                    out.append(unvalued(c, sym, "no returns supplied" if r is None else "no return history"))
                    continue
                base = bk.base_pnl()
                value = var_of(base + r.history(j) * (mv_new - mv_old), c.method)
                bad = c.over(value) and value > bk.base_var(c.method) + 1e-9 * max(1.0, value)
            else:  # the wall-clock kinds
                t_now = t_now if t_now is not None else self.now_of(intent, ctx, snapshot, now)
                if t_now is None:
                    out.append(unvalued(c, sym, "no time given for a wall-clock limit"))
                    continue
                if k == K.MAX_ORDER_RATE:
                    extra = c.window_s
                    value = (bk.rate_count(t_now, c.window_s) + 1) / c.window_s
                    bad = c.over(value)
                else:  # duplicate window
                    last_ts = bk.dups.get((sym, intent.side, qty))
                    value = max(0.0, t_now - last_ts) if last_ts is not None else float("inf")
                    bad = value < c.thr - c.tol
                    util[c.key] = 1.0 if bad else 0.0
                    if bad:
                        out.append(breach(c, value, reason(c, value, symbol=sym, side=intent.side, qty=qty)))
                    continue
            util[c.key] = c.util(value)
            if bad:
                out.append(breach(c, value, reason(c, value, symbol=sym, side=intent.side, qty=qty, sector=sector, extra=extra)))

        passed = not any(b.action == K.BLOCK for b in out)
        return RiskVerdict(passed=passed, breaches=tuple(out), utilisation=util)

    def check_many(
        self,
        intents: Sequence[OrderIntent],
        snapshot: PortfolioSnapshot,
        *,
        context: RiskContext | None = None,
        now: datetime | None = None,
    ) -> list[RiskVerdict]:
        """The intents as one proposal (see ``check_proposal``): one verdict each, in order."""
        return list(self.check_proposal(intents, snapshot, context=context, now=now).verdicts)

    def check_proposal(
        self,
        intents: Sequence[OrderIntent],
        snapshot: PortfolioSnapshot,
        *,
        context: RiskContext | None = None,
        now: datetime | None = None,
    ):
        return check_proposal(self, intents, snapshot, context=context or self.context, now=now)
