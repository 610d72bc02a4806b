"""The pre-trade check engine: one order against every limit that applies to it.

Every limit is measured by its kind's class (``kinds.py``) over an
``OrderExposure``: the order against the *committed* book (positions plus open
orders as if filled, so orders that each fit cannot jointly breach).  Per-order
kinds read the order; post-trade kinds read the book after it, at the mark,
and breach only when the order makes the measure worse (an order that reduces
an over-limit exposure passes, so a desk over a limit can always trade out of
it); daily loss and drawdown are states: once over, only orders that shrink a
position pass (the REDUCING rule).

A limit that cannot be evaluated (no price to value the order, no returns for
VaR, no time for a rate, no desk-wide figures) blocks, saying what was missing: fail closed.

Desk-scope gross, net, daily-loss and order-rate limits are measured desk-wide when the context
carries desk figures (``desk.py``); a desk limit that names portfolios applies only to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from desk.interfaces import OrderIntent, PortfolioSnapshot, RiskEngine, RiskVerdict, TradingState

from . import limits as K
from .book import EMPTY_CONTEXT, Book, RiskContext, ts_of, var_of
from .buying_power import account_check_many
from .desk import NO_DESK_FIGURES, DeskView
from .kinds import LimitKind, compile_limit
from .limits import Limit
from .proposal import check_proposal
from .reasons import breach, reason, state_breach, unvalued


def grows(new: float, old: float) -> bool:
    """|new| > |old| beyond float noise."""
    return abs(new) > abs(old) + 1e-9 * max(1.0, abs(old))


def is_reducing(q_old: float, dq: float) -> bool:
    """An order shrinks |position| without flipping it past zero."""
    return q_old != 0.0 and dq * q_old < 0.0 and abs(dq) <= abs(q_old) + 1e-9


class _VarWorse:
    """Whether the order raises VaR, asked only of an order over the limit (the book's VaR is then computed once)."""

    __slots__ = ("bk", "method", "value")

    def __init__(self, bk: Book, method: str, value: float):
        self.bk, self.method, self.value = bk, method, value

    def __bool__(self) -> bool:
        return self.value > self.bk.base_var(self.method) + 1e-9 * max(1.0, self.value)


class OrderExposure:
    """One order against the committed book, in floats: what each limit kind's ``measure`` reads.

    Post-trade figures are at the mark with NAV unchanged by the trade (a trade
    at the mark moves cash and position value equally; fees are ignored).
    """

    __slots__ = (
        "bk", "ctx", "intent", "order_qty", "px", "mark", "mv_old", "position_value", "position_grows",
        "inv_nav", "not_reducing", "gross_after", "net_after", "net_grows", "loss", "drawdown", "t_now", "_sector", "_var",
    )

    def __init__(self, bk: Book, intent: OrderIntent, ctx: RiskContext):
        self.bk, self.ctx, self.intent = bk, ctx, intent
        sym = intent.symbol
        qty = float(intent.quantity)
        dq = qty if intent.side.sign > 0 else -qty
        q_old = bk.qty.get(sym, 0.0)
        self.order_qty = qty
        self.not_reducing = not is_reducing(q_old, dq)
        self.px = px = bk.price_for(intent)
        self.mark = mark = bk.mark_for(sym, px)
        mv_old = q_old * mark if mark is not None else 0.0
        mv_new = (q_old + dq) * mark if mark is not None else 0.0
        self.mv_old, self.position_value = mv_old, mv_new
        self.position_grows = grows(mv_new, mv_old)
        nav = bk.nav
        self.inv_nav = 1.0 / nav if nav > 0 else float("inf")
        self.gross_after = bk.gross - abs(mv_old) + abs(mv_new)
        self.net_after = net_new = bk.net + mv_new - mv_old
        self.net_grows = grows(net_new, bk.net)
        self.loss, self.drawdown = bk.loss, bk.drawdown
        self.t_now: float | None = None
        self._sector: str | None = None
        self._var: dict | None = None

    @property
    def order_notional(self) -> float:
        return self.order_qty * self.px

    def lacks(self, need: str) -> str | None:
        """None when ``need`` is at hand; else what is missing ("" to skip the limit silently)."""
        if need == "time":
            return None if self.t_now is not None else "no time given for a wall-clock limit"
        if need == "sector":
            return None if self.sector() else ""
        r = self.ctx.returns
        if r is None:
            return "no returns supplied"
        return None if self.intent.symbol in r.index else "no return history"

    def sector(self) -> str:
        if self._sector is None:
            self._sector = self.bk.sector(self.intent.symbol, self.intent.sector)
        return self._sector

    def sector_gross_after(self) -> float:
        return self.bk.sector_gross.get(self.sector(), 0.0) - abs(self.mv_old) + abs(self.position_value)

    def restricted(self, symbols: frozenset) -> float:
        return 1.0 if self.intent.symbol in symbols else 0.0

    def _collar(self) -> tuple[float, float]:
        i = self.intent
        order_px = i.limit_price if i.limit_price is not None else i.reference_price
        last = self.bk.last_price(i.symbol)
        if order_px is None or not last:
            return 0.0, 0.0  # no price named or no last price: nothing to collar
        return abs(float(order_px) / last - 1.0) * 100.0, last

    def collar_pct(self) -> float:
        return self._collar()[0]

    def collar_last(self) -> float:
        return self._collar()[1]

    def var_after(self, method: str) -> tuple[float, _VarWorse]:
        # Several VaR limits (desk, portfolio) with one method read one figure: computed once per order.
        hit = self._var.get(method) if self._var is not None else None
        if hit is None:
            r = self.ctx.returns
            value = var_of(self.bk.base_pnl() + r.history(r.index[self.intent.symbol]) * (self.position_value - self.mv_old), method)
            hit = (value, _VarWorse(self.bk, method, value))
            if self._var is None:
                self._var = {}
            self._var[method] = hit
        return hit

    def orders_in_window(self, window_s: float) -> int:
        return self.bk.rate_count(self.t_now, window_s) + 1

    def since_same_order(self) -> float:
        i = self.intent
        last_ts = self.bk.dups.get((i.symbol, i.side, self.order_qty))
        return max(0.0, self.t_now - last_ts) if last_ts is not None else float("inf")


class PreTradeRiskEngine(RiskEngine):
    """Built once from the active limits and reused; ``check`` is pure given its inputs.

    Disabled limits are dropped at build time.  Per-snapshot work is cached by
    identity (the last snapshot and context seen), so checking many orders
    against one snapshot pays it once.
    """

    def __init__(self, limits: Iterable[Limit], *, context: RiskContext | None = None, wall_clock: bool = True):
        self.limits = tuple(compile_limit(lim) for lim in limits if lim.enabled)
        self.context = context or EMPTY_CONTEXT
        self.wall_clock = wall_clock
        self._desk = [c for c in self.limits if c.scope == K.SCOPE_DESK]
        self._by: dict[tuple[str, str], list[LimitKind]] = {}
        for c in self.limits:
            if c.scope != K.SCOPE_DESK:
                self._by.setdefault((c.scope, c.skey), []).append(c)
        self._applicable_cache: dict[tuple, list[LimitKind]] = {}
        self._desk_wide_cache: dict[str, tuple[LimitKind, ...]] = {}
        self._cache: tuple | None = None

    # -- plumbing shared with the proposal path

    def applicable(self, portfolio_id, symbol: str, agent_id) -> list[LimitKind]:
        key = (portfolio_id, symbol, agent_id)
        hit = self._applicable_cache.get(key)
        if hit is None:
            by = self._by
            hit = [
                c for c in self.limits
                if (c.scope == K.SCOPE_DESK and c.concerns(portfolio_id))
                or c in by.get((K.SCOPE_PORTFOLIO, str(portfolio_id)), ())
                or c in by.get((K.SCOPE_INSTRUMENT, symbol), ())
                or (agent_id is not None and c in by.get((K.SCOPE_AGENT, str(agent_id)), ()))
            ]
            self._applicable_cache[key] = hit
        return hit

    def desk_wide_for(self, portfolio_id) -> tuple[LimitKind, ...]:
        """The desk-wide limits that concern a portfolio (what its orders are serialised on desk-wide)."""
        key = str(portfolio_id)
        hit = self._desk_wide_cache.get(key)
        if hit is None:
            hit = self._desk_wide_cache[key] = tuple(c for c in self._desk if c.desk_wide and c.concerns(key))
        return hit

    def book(self, snapshot: PortfolioSnapshot, ctx: RiskContext) -> Book:
        cached = self._cache
        if cached is not None and cached[0] is snapshot and cached[1] is ctx:
            return cached[2]
        bk = Book(snapshot, ctx)
        self._cache = (snapshot, ctx, bk)
        return bk

    def reserve_collar_pct(self, intent: OrderIntent, default: float) -> float:
        """The collar a market order is reserved at: the tightest blocking price collar that applies, else ``default``."""
        collars = [c.thr for c in self.applicable(intent.portfolio_id, intent.symbol, intent.agent_id)
                   if c.kind == K.PRICE_COLLAR_PCT and c.action == K.BLOCK]
        return min(collars) if collars else default

    def reserve_collar_of(self, ctx: RiskContext):
        default = ctx.account.default_collar_pct
        return lambda intent: self.reserve_collar_pct(intent, default)

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
        slice_only: bool = False,
    ) -> RiskVerdict:
        """The verdict on ``intent``. ``slice_only``: the checks a child slice passes before it goes
        out - the trading state and the per-order limits (size, collar, restricted list, rate), not
        the duplicate window (a schedule's equal slices are not duplicates) and not the exposure
        limits, which its parent already answered for."""
        ctx = context or self.context
        bk = self.book(snapshot, ctx)
        x = OrderExposure(bk, intent, ctx)
        sym = intent.symbol
        out = []
        if bk.state is TradingState.HALTED or (bk.state is TradingState.REDUCING and x.not_reducing):
            out.append(state_breach(bk.state, snapshot.name or f"portfolio {snapshot.portfolio_id}", sym))
        unpriced = x.mark is None
        wall = self.uses_wall_clock(ctx)
        util: dict[str, float] = {}
        desk = ctx.desk
        views: dict[str, DeskView] = {}

        for c in self.applicable(intent.portfolio_id, sym, intent.agent_id):
            if c.wall_clock and not wall:
                continue
            if slice_only and (not c.per_order or c.kind == K.DUPLICATE_WINDOW_S):
                continue
            if unpriced and c.priced:
                out.append(unvalued(c, sym, "no price to value the order"))
                continue
            need = c.needs
            if need is not None:
                if need == "time" and x.t_now is None:
                    x.t_now = self.now_of(intent, ctx, snapshot, now)
                missing = x.lacks(need)
                if missing is not None:
                    if missing:
                        out.append(unvalued(c, sym, missing))
                    continue
            wide = desk is not None and c.desk_wide
            if wide:
                view = views.get(c.desk_key)
                if view is None:
                    figures = desk.get(c.desk_key)
                    if figures is None:
                        out.append(unvalued(c, sym, NO_DESK_FIGURES))
                        continue
                    view = views[c.desk_key] = DeskView(x, figures)
                value, worse = c.measure(view)
            else:
                value, worse = c.measure(x)
            util[c.key] = c.util(value)
            if c.breached(value, worse):
                text = reason(c, value, symbol=sym, side=intent.side, qty=x.order_qty, sector=x.sector(), extra=c.detail(x),
                              desk_wide=wide)
                out.append(breach(c, value, text))

        reservation = None
        if ctx.account is not None:
            [acct] = account_check_many([intent], snapshot, ctx.account, marks=ctx.marks, collar_of=self.reserve_collar_of(ctx))
            out.extend(acct.breaches)
            reservation = acct.reservation
        passed = not any(b.action == K.BLOCK for b in out)
        return RiskVerdict(passed=passed, breaches=tuple(out), utilisation=util, reservation=reservation)

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
