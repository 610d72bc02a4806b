"""A whole proposal checked at once, vectorised over its trades.

Semantics (the what-if the proposal page shows, and what approval enforces):

- Portfolio-level measures (gross, net, leverage, sector, VaR) and an
  instrument's position are valued after *all* the proposal's trades: the end
  state the proposal aims at.
- A trade carries such a breach only if it makes the measure worse, applied in
  the proposal's order after the trades before it.  The sells that fund a
  rebalance are not blocked by a gross limit the buys breach.
- Per-order limits are per trade.  The proposal's own trades count towards
  the order rate (in order) and towards duplicates of each other, as they
  would if approved together at one instant.
- Desk-wide limits (``desk.py``) read the rest of the desk plus the portfolio's end state.
- For a single intent the result equals ``PreTradeRiskEngine.check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import NormalDist

import numpy as np

from desk.interfaces import LimitBreach, OrderIntent, PortfolioSnapshot, ProposedTrade, RiskVerdict, TradingState
from risk_app.measures import lower_quantile

from . import limits as K
from .book import Book, RiskContext, var_of
from .buying_power import account_check_many
from .desk import NO_DESK_FIGURES, DeskView
from .kinds import LimitKind
from .reasons import breach, reason, state_breach, unvalued


@dataclass(frozen=True, slots=True)
class ProposalVerdict:
    """Every trade's verdict, the distinct breaches, and the post-trade figures of the whole set."""

    passed: bool
    verdicts: tuple[RiskVerdict, ...]
    breaches: tuple[LimitBreach, ...] = ()
    utilisation: Mapping[str, float] = field(default_factory=dict)  # per limit, the highest over the trades
    post_trade: Mapping[str, float] = field(default_factory=dict)  # nav, gross_pct, net_pct, leverage


def intents_from_trades(
    trades: Sequence[ProposedTrade],
    *,
    portfolio_id: int,
    agent_id: int | None = None,
    sectors: Mapping[str, str] | None = None,
    ts: datetime | None = None,
) -> list[OrderIntent]:
    """A proposal's trades as order intents, priced at the proposal's price (the reference)."""
    sectors = sectors or {}
    return [
        OrderIntent(
            portfolio_id=portfolio_id, symbol=t.symbol, side=t.side, quantity=t.quantity,
            reference_price=t.price, agent_id=agent_id, sector=sectors.get(t.symbol, ""), ts=ts,
        )
        for t in trades
        if t.quantity > 0
    ]


def _grows(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    a = np.abs(old)
    return np.abs(new) > a + 1e-9 * np.maximum(1.0, a)


def _var_rows(pnl: np.ndarray, method: str) -> np.ndarray:
    """1-day 95% VaR of each row of an (n, T) array of P&L scenarios."""
    if method == "parametric":
        z = NormalDist().inv_cdf(0.05)
        return -(pnl.mean(axis=1) + z * pnl.std(axis=1, ddof=1))
    return -lower_quantile(pnl, 0.05, axis=1)


class ProposalExposure:
    """A proposal's trades against the committed book, one array element per trade (in proposal order).

    Portfolio-level figures are those after *all* the trades; whether a trade
    makes a figure worse is judged after the trades before it.
    """

    def __init__(self, bk: Book, intents: Sequence[OrderIntent], ctx: RiskContext, now_ts: list[float | None]):
        n = len(intents)
        self.bk, self.intents, self.ctx, self.n = bk, intents, ctx, n
        self.syms = syms = [i.symbol for i in intents]
        self.order_qty = qty = np.array([float(i.quantity) for i in intents])
        dq = np.array([float(i.signed_quantity) for i in intents])
        px = np.array([np.nan if (p := bk.price_for(i)) is None else p for i in intents])
        mark = np.array([np.nan if (m := bk.mark_for(i.symbol, p)) is None else m for i, p in zip(intents, px.tolist())])
        self.priced = priced = ~np.isnan(mark)
        markz = np.where(priced, mark, 0.0)
        self.order_notional = qty * np.where(priced, px, 0.0)

        # Running position of each trade's instrument, before it, in proposal order.
        q_before = np.empty(n)
        run: dict[str, float] = {}
        for k, s in enumerate(syms):
            qb = run.get(s, bk.qty.get(s, 0.0))
            q_before[k] = qb
            run[s] = qb + dq[k]
        q_end = np.array([run[s] for s in syms])
        mv_before, mv_after = q_before * markz, (q_before + dq) * markz
        self.position_value = q_end * markz
        self.dmv = dmv = dq * markz
        self.reducing = (q_before != 0.0) & (dq * q_before < 0.0) & (np.abs(dq) <= np.abs(q_before) + 1e-9)
        self.not_reducing = ~self.reducing
        self.position_grows = _grows(mv_after, mv_before)

        nav = bk.nav
        self.inv_nav = 1.0 / nav if nav > 0 else np.inf
        end_value = {s: run[s] * (mark[k] if priced[k] else 0.0) for k, s in enumerate(syms)}
        self.gross_end = bk.gross + sum(abs(v) - abs(bk.value.get(s, 0.0)) for s, v in end_value.items())
        self.gross_after = np.full(n, self.gross_end)
        self.net_before = net_before = bk.net + np.cumsum(dmv) - dmv
        self.net_end = bk.net + float(dmv.sum())
        self.net_after = np.full(n, self.net_end)
        self.net_grows = _grows(net_before + dmv, net_before)
        self.sectors = sectors = [bk.sector(s, i.sector) for s, i in zip(syms, intents)]
        sector_end = dict(bk.sector_gross)
        sector_of = dict(zip(reversed(syms), reversed(sectors)))  # the first trade's sector per symbol
        for s, v in end_value.items():
            sec = sector_of[s]
            if sec:
                sector_end[sec] = sector_end.get(sec, 0.0) + abs(v) - abs(bk.value.get(s, 0.0))
        self._sector_end = sector_end
        self.loss, self.drawdown = np.full(n, bk.loss), np.full(n, bk.drawdown)
        self.t = np.array([np.nan if x is None else x for x in now_ts])
        self.no_time = np.array([x is None for x in now_ts])
        r = ctx.returns
        self.returns_index = np.array([-1 if r is None else r.index.get(s, -1) for s in syms])

    def lacks(self, need: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """(trades that cannot be valued, trades that can be, what is missing) for ``need``."""
        if need == "time":
            return self.no_time, ~self.no_time, "no time given for a wall-clock limit"
        if need == "sector":
            return None, np.array([bool(s) for s in self.sectors]), ""
        idx = self.returns_index
        return idx < 0, idx >= 0, "no returns supplied" if self.ctx.returns is None else "no return history"

    def sector_gross_after(self) -> np.ndarray:
        return np.array([self._sector_end.get(s, 0.0) for s in self.sectors])

    def restricted(self, symbols: frozenset) -> np.ndarray:
        return np.array([s in symbols for s in self.syms], dtype=float)

    def _collar(self) -> tuple[np.ndarray, np.ndarray]:
        value, last_px = np.zeros(self.n), np.zeros(self.n)
        for k, i in enumerate(self.intents):
            opx = i.limit_price if i.limit_price is not None else i.reference_price
            last = self.bk.last_price(i.symbol)
            if opx is not None and last:  # no price named or no last price: nothing to collar
                value[k] = abs(float(opx) / last - 1.0) * 100.0
                last_px[k] = last
        return value, last_px

    def collar_pct(self) -> np.ndarray:
        return self._collar()[0]

    def collar_last(self) -> np.ndarray:
        return self._collar()[1]

    def var_after(self, method: str) -> tuple[np.ndarray, np.ndarray | None]:
        r, idx = self.ctx.returns, self.returns_index
        has = (idx >= 0) & self.priced
        if not has.any():
            return np.zeros(self.n), None
        # Row k: the book's P&L scenarios after trades 0..k, in proposal order.
        d = r.by_symbol[np.maximum(idx, 0)] * np.where(has, self.dmv, 0.0)[:, None]
        after = np.cumsum(d, axis=0)
        after += self.bk.base_pnl()
        v_after = _var_rows(after, method)
        v_before = np.concatenate(([self.bk.base_var(method)], v_after[:-1]))
        worse = v_after > v_before + 1e-9 * np.maximum(1.0, np.abs(v_after))
        return np.full(self.n, float(v_after[-1])), worse

    def orders_in_window(self, w: float) -> np.ndarray:
        """The book's orders in each trade's window, plus the proposal's earlier trades, plus the trade."""
        t, n, bk = self.t, self.n, self.bk
        if not self.no_time.any() and (t == t[0]).all():  # the usual case: one instant for the whole proposal
            return bk.rate_count(t[0], w) + np.arange(1, n + 1)
        earlier = np.tril((t[None, :] > t[:, None] - w) & (t[None, :] <= t[:, None]), k=-1).sum(axis=1)
        booked = np.array([0 if np.isnan(x) else bk.rate_count(x, w) for x in t])
        return booked + earlier + 1

    def since_same_order(self) -> np.ndarray:
        """Seconds since the same order: the book's orders and the proposal's earlier trades."""
        value = np.full(self.n, np.inf)
        seen = dict(self.bk.dups)
        t = self.t
        for k, i in enumerate(self.intents):
            if self.no_time[k]:
                continue
            key = (i.symbol, i.side, float(i.quantity))
            last = seen.get(key)
            if last is not None:
                value[k] = max(0.0, t[k] - last)
            seen[key] = t[k] if last is None else max(last, t[k])
        return value


def check_proposal(engine, intents: Sequence[OrderIntent], snapshot: PortfolioSnapshot, *,
                   context: RiskContext, now: datetime | None = None) -> ProposalVerdict:
    n = len(intents)
    if n == 0:
        return ProposalVerdict(passed=True, verdicts=())
    ctx = context
    bk = engine.book(snapshot, ctx)
    x = ProposalExposure(bk, intents, ctx, [engine.now_of(i, ctx, snapshot, now) for i in intents])
    syms, priced, sectors = x.syms, x.priced, x.sectors

    per_trade: list[list[LimitBreach]] = [[] for _ in range(n)]
    label = snapshot.name or f"portfolio {snapshot.portfolio_id}"
    if bk.state is not TradingState.ACTIVE:
        hit = np.ones(n, bool) if bk.state is TradingState.HALTED else x.not_reducing
        for k in np.flatnonzero(hit):
            per_trade[k].append(state_breach(bk.state, label, syms[k]))

    wall = engine.uses_wall_clock(ctx)
    limits: list[LimitKind] = [c for c in engine.limits if wall or not c.wall_clock]
    util = np.full((n, len(limits)), np.nan)
    pid = np.array([str(i.portfolio_id) for i in intents])
    sym_arr = np.array(syms)
    agent = np.array(["" if i.agent_id is None else str(i.agent_id) for i in intents])
    all_trades = np.ones(n, bool)
    scope_masks: dict[tuple, np.ndarray] = {}
    measures: dict[tuple, tuple] = {}
    all_priced = bool(priced.all())

    with np.errstate(all="ignore"):  # a near-zero threshold overflows utilisation to inf, as it should
        for col, c in enumerate(limits):
            skey = (c.scope, c.skey, c.portfolios)
            app = scope_masks.get(skey)
            if app is None:
                if c.scope == K.SCOPE_DESK:
                    app = all_trades if c.portfolios is None else np.isin(pid, sorted(c.portfolios))
                else:
                    by = pid if c.scope == K.SCOPE_PORTFOLIO else sym_arr if c.scope == K.SCOPE_INSTRUMENT else agent
                    app = by == c.skey
                scope_masks[skey] = app
            if app is not all_trades and not app.any():
                continue
            if c.priced and not all_priced:
                for k in (app & ~priced).nonzero()[0]:
                    per_trade[k].append(unvalued(c, syms[k], "no price to value the order"))
                app = app & priced
            if c.needs is not None:
                missing, valid, text = x.lacks(c.needs)
                if missing is not None and missing.any():
                    for k in (app & missing).nonzero()[0]:
                        per_trade[k].append(unvalued(c, syms[k], text))
                if not valid.all():
                    app = app & valid
            wide = ctx.desk is not None and c.desk_wide
            mkey = (c.measure_key, c.desk_key) if wide else c.measure_key
            m = measures.get(mkey)
            if m is None:
                if wide:
                    figures = ctx.desk.get(c.desk_key)
                    if figures is None:
                        for k in app.nonzero()[0]:
                            per_trade[k].append(unvalued(c, syms[k], NO_DESK_FIGURES))
                        continue
                    m = measures[mkey] = c.measure(DeskView(x, figures, t=x.t))
                else:
                    m = measures[mkey] = c.measure(x)
            value, worse = m
            bad = c.breached_many(value, worse)
            u = c.util_many(value)
            if app is all_trades:
                util[:, col] = u
            else:
                util[:, col] = np.where(app, u, np.nan)
                bad = bad & app
            if bad.any():
                extra = c.detail(x)
                for k in bad.nonzero()[0]:
                    i = intents[k]
                    v = float(value[k])
                    text = reason(c, v, symbol=i.symbol, side=i.side, qty=float(x.order_qty[k]), sector=sectors[k],
                                  extra=float(extra[k]) if isinstance(extra, np.ndarray) else float(extra), desk_wide=wide)
                    per_trade[k].append(breach(c, v, text))

    # The account (buying power, sellable position): trade by trade in the proposal's order, its
    # earlier sells paying for its later buys (buying_power.py).
    reservations: list = [None] * n
    if ctx.account is not None:
        for k, acct in enumerate(account_check_many(intents, snapshot, ctx.account, marks=ctx.marks,
                                                    collar_of=engine.reserve_collar_of(ctx))):
            per_trade[k].extend(acct.breaches)
            reservations[k] = acct.reservation

    keys = [c.key for c in limits]
    verdicts = []
    partial = np.isnan(util).any(axis=1).tolist()
    for k, row in enumerate(util.tolist()):
        u = {kk: v for kk, v in zip(keys, row) if v == v} if partial[k] else dict(zip(keys, row))
        b = tuple(per_trade[k])
        verdicts.append(RiskVerdict(passed=not any(br.action == K.BLOCK for br in b), breaches=b, utilisation=u,
                                    reservation=reservations[k]))
    seen_reasons: dict[str, LimitBreach] = {}
    for b in per_trade:
        for br in b:
            seen_reasons.setdefault(br.reason, br)
    with np.errstate(all="ignore"):
        col_max = {kk: float(v) for kk, v, seen in zip(keys, np.fmax.reduce(util, axis=0), (~np.isnan(util)).any(axis=0)) if seen}
    inv_nav = x.inv_nav
    post = {"nav": bk.nav, "gross_pct": x.gross_end * inv_nav, "net_pct": x.net_end * inv_nav, "leverage": x.gross_end * inv_nav}
    r = ctx.returns
    if r is not None:
        cols = x.returns_index
        has = cols >= 0
        end_pnl = bk.base_pnl() + x.dmv[has] @ r.by_symbol[cols[has]]
        post["var_95"] = var_of(end_pnl, "historical")
    return ProposalVerdict(
        passed=all(v.passed for v in verdicts),
        verdicts=tuple(verdicts),
        breaches=tuple(seen_reasons.values()),
        utilisation=col_max,
        post_trade=post,
    )


