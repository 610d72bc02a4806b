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
from .book import Compiled, RiskContext, var_of
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


def check_proposal(engine, intents: Sequence[OrderIntent], snapshot: PortfolioSnapshot, *,
                   context: RiskContext, now: datetime | None = None) -> ProposalVerdict:
    n = len(intents)
    if n == 0:
        return ProposalVerdict(passed=True, verdicts=())
    ctx = context
    bk = engine.book(snapshot, ctx)
    syms = [i.symbol for i in intents]
    qty = np.array([float(i.quantity) for i in intents])
    dq = np.array([float(i.signed_quantity) for i in intents])
    px = np.array([np.nan if (p := bk.price_for(i)) is None else p for i in intents])
    mark = np.array([np.nan if (m := bk.mark_for(i.symbol, p)) is None else m for i, p in zip(intents, px.tolist())])
    priced = ~np.isnan(mark)
    markz = np.where(priced, mark, 0.0)

    # Running position of each trade's instrument, before it, in proposal order.
    q_before = np.empty(n)
    run: dict[str, float] = {}
    for k, s in enumerate(syms):
        qb = run.get(s, bk.qty.get(s, 0.0))
        q_before[k] = qb
        run[s] = qb + dq[k]
    q_end = np.array([run[s] for s in syms])
    mv_before, mv_after, mv_end = q_before * markz, (q_before + dq) * markz, q_end * markz
    dmv = dq * markz
    reducing = (q_before != 0.0) & (dq * q_before < 0.0) & (np.abs(dq) <= np.abs(q_before) + 1e-9)

    nav = bk.nav
    inv_nav = 1.0 / nav if nav > 0 else np.inf
    end_value = {s: run[s] * (mark[k] if priced[k] else 0.0) for k, s in enumerate(syms)}
    gross_end = bk.gross + sum(abs(v) - abs(bk.value.get(s, 0.0)) for s, v in end_value.items())
    net_before = bk.net + np.cumsum(dmv) - dmv
    net_end = bk.net + float(dmv.sum())
    sectors = [bk.sector(s, i.sector) for s, i in zip(syms, intents)]
    sector_end = dict(bk.sector_gross)
    sector_of = dict(zip(reversed(syms), reversed(sectors)))  # the first trade's sector per symbol
    for s, v in end_value.items():
        sec = sector_of[s]
        if sec:
            sector_end[sec] = sector_end.get(sec, 0.0) + abs(v) - abs(bk.value.get(s, 0.0))

    per_trade: list[list[LimitBreach]] = [[] for _ in range(n)]
    label = snapshot.name or f"portfolio {snapshot.portfolio_id}"
    if bk.state is not TradingState.ACTIVE:
        hit = np.ones(n, bool) if bk.state is TradingState.HALTED else ~reducing
        for k in np.flatnonzero(hit):
            per_trade[k].append(state_breach(bk.state, label, syms[k]))

    limits: list[Compiled] = [c for c in engine.limits if not (c.kind in K.KINDS and K.KINDS[c.kind].wall_clock
                                                             and not engine.uses_wall_clock(ctx))]
    util = np.full((n, len(limits)), np.nan)
    pid = np.array([str(i.portfolio_id) for i in intents])
    sym_arr = np.array(syms)
    agent = np.array(["" if i.agent_id is None else str(i.agent_id) for i in intents])
    now_ts = [engine.now_of(i, ctx, snapshot, now) for i in intents]
    grows_pos = _grows(mv_after, mv_before)
    all_trades = np.ones(n, bool)
    sector_known = np.array([bool(s) for s in sectors])
    scope_masks: dict[tuple, np.ndarray] = {}
    measures: dict[tuple, tuple] = {}

    zero = np.zeros(n)
    all_priced = bool(priced.all())

    def measure(c: Compiled) -> tuple:
        """(value, extra condition for a breach, valid mask, missing mask, missing text, extra), per kind, once."""
        k_ = c.kind
        if k_ == K.MAX_ORDER_QTY:
            return qty, None, None, None, "", zero
        if k_ == K.MAX_ORDER_NOTIONAL:
            return qty * np.where(priced, px, 0.0), None, None, None, "", zero
        if k_ == K.MAX_POSITION_NOTIONAL:
            return np.abs(mv_end), grows_pos, None, None, "", zero
        if k_ == K.MAX_CONCENTRATION:
            return np.abs(mv_end) * inv_nav, grows_pos, None, None, "", zero
        if k_ == K.MAX_GROSS_EXPOSURE:
            return np.full(n, gross_end), grows_pos, None, None, "", zero
        if k_ == K.MAX_LEVERAGE:
            return np.full(n, gross_end * inv_nav), grows_pos, None, None, "", zero
        if k_ == K.MAX_NET_EXPOSURE:
            return np.full(n, abs(net_end) * inv_nav), _grows(net_before + dmv, net_before), None, None, "", zero
        if k_ == K.MAX_SECTOR_CONCENTRATION:
            return np.array([sector_end.get(s, 0.0) * inv_nav for s in sectors]), grows_pos, sector_known, None, "", zero
        if k_ == K.MAX_DAILY_LOSS:
            return np.full(n, bk.loss), ~reducing, None, None, "", zero
        if k_ == K.MAX_DRAWDOWN:
            return np.full(n, bk.drawdown), ~reducing, None, None, "", zero
        if k_ == K.PRICE_COLLAR_PCT:
            value, last_px = np.zeros(n), np.zeros(n)
            for k, i in enumerate(intents):
                opx = i.limit_price if i.limit_price is not None else i.reference_price
                last = bk.last_price(i.symbol)
                if opx is not None and last:  # no price named or no last price: nothing to collar
                    value[k] = abs(float(opx) / last - 1.0) * 100.0
                    last_px[k] = last
            return value, None, None, None, "", last_px
        if k_ == K.MAX_VAR_95:
            r = ctx.returns
            idx = np.array([-1 if r is None else r.index.get(s, -1) for s in syms])
            has = (idx >= 0) & priced
            text = "no returns supplied" if r is None else "no return history"
            if not has.any():
                return zero, None, has, idx < 0, text, zero
            # Row k: the book's P&L scenarios after trades 0..k, in proposal order.
            d = r.by_symbol[np.maximum(idx, 0)] * np.where(has, dmv, 0.0)[:, None]
            after = np.cumsum(d, axis=0)
            after += bk.base_pnl()
            v_after = _var_rows(after, c.method)
            v_before = np.concatenate(([bk.base_var(c.method)], v_after[:-1]))
            worse = v_after > v_before + 1e-9 * np.maximum(1.0, np.abs(v_after))
            return np.full(n, float(v_after[-1])), worse, idx >= 0, idx < 0, text, zero
        # wall-clock kinds
        missing = np.array([x is None for x in now_ts])
        t = np.array([np.nan if x is None else x for x in now_ts])
        text = "no time given for a wall-clock limit"
        if k_ == K.MAX_ORDER_RATE:
            w = c.window_s
            if not missing.any() and (t == t[0]).all():  # the usual case: one instant for the whole proposal
                return (bk.rate_count(t[0], w) + np.arange(1, n + 1)) / w, None, None, None, text, np.full(n, w)
            earlier = np.tril((t[None, :] > t[:, None] - w) & (t[None, :] <= t[:, None]), k=-1).sum(axis=1)
            booked = np.array([0 if np.isnan(x) else bk.rate_count(x, w) for x in t])
            return (booked + earlier + 1) / w, None, ~missing, missing, text, np.full(n, w)
        value = np.full(n, np.inf)  # duplicate window: the book's orders and the proposal's earlier trades
        seen = dict(bk.dups)
        for k, i in enumerate(intents):
            if missing[k]:
                continue
            key = (i.symbol, i.side, float(i.quantity))
            last = seen.get(key)
            if last is not None:
                value[k] = max(0.0, t[k] - last)
            seen[key] = t[k] if last is None else max(last, t[k])
        return value, None, ~missing, missing, text, zero

    with np.errstate(all="ignore"):  # a near-zero threshold overflows utilisation to inf, as it should
        for col, c in enumerate(limits):
            skey = (c.scope, c.skey)
            app = scope_masks.get(skey)
            if app is None:
                if c.scope == K.SCOPE_DESK:
                    app = all_trades
                else:
                    by = pid if c.scope == K.SCOPE_PORTFOLIO else sym_arr if c.scope == K.SCOPE_INSTRUMENT else agent
                    app = by == c.skey
                scope_masks[skey] = app
            if app is not all_trades and not app.any():
                continue
            k_ = c.kind
            if k_ in K.PRICED and not all_priced:
                for k in (app & ~priced).nonzero()[0]:
                    per_trade[k].append(unvalued(c, syms[k], "no price to value the order"))
                app = app & priced
            if k_ == K.RESTRICTED_INSTRUMENTS:
                value = np.array([s in c.symbols for s in syms], dtype=float)
                bad, u, extra = value > 0, value, None
            else:
                mkey = (k_, c.method, c.window_s)
                m = measures.get(mkey)
                if m is None:
                    m = measures[mkey] = measure(c)
                value, cond, valid, missing, text, extra = m
                if missing is not None:
                    for k in (app & missing).nonzero()[0]:
                        per_trade[k].append(unvalued(c, syms[k], text))
                if valid is not None:
                    app = app & valid
                if k_ == K.DUPLICATE_WINDOW_S:
                    bad = value < c.thr - c.tol
                    u = bad.astype(float)
                else:
                    bad = value > c.thr + c.tol
                    u = value / c.thr if c.thr > 0 else np.where(value > 0, np.inf, 0.0)
                if cond is not None:
                    bad = bad & cond
            if app is all_trades:
                util[:, col] = u
            else:
                util[:, col] = np.where(app, u, np.nan)
                bad = bad & app
            for k in bad.nonzero()[0]:
                i = intents[k]
                v = float(value[k])
                text = reason(c, v, symbol=i.symbol, side=i.side, qty=float(qty[k]), sector=sectors[k],
                              extra=0.0 if extra is None else float(extra[k]))
                per_trade[k].append(breach(c, v, text))

    keys = [c.key for c in limits]
    verdicts = []
    partial = np.isnan(util).any(axis=1).tolist()
    for k, row in enumerate(util.tolist()):
        u = {kk: v for kk, v in zip(keys, row) if v == v} if partial[k] else dict(zip(keys, row))
        b = tuple(per_trade[k])
        verdicts.append(RiskVerdict(passed=not any(x.action == K.BLOCK for x in b), breaches=b, utilisation=u))
    seen_reasons: dict[str, LimitBreach] = {}
    for b in per_trade:
        for x in b:
            seen_reasons.setdefault(x.reason, x)
    with np.errstate(all="ignore"):
        col_max = {kk: float(v) for kk, v, seen in zip(keys, np.fmax.reduce(util, axis=0), (~np.isnan(util)).any(axis=0)) if seen}
    post = {"nav": nav, "gross_pct": gross_end * inv_nav, "net_pct": net_end * inv_nav, "leverage": gross_end * inv_nav}
    r = ctx.returns
    if r is not None:
        cols = np.array([r.index.get(s, -1) for s in syms])
        has = cols >= 0
        end_pnl = bk.base_pnl() + dmv[has] @ r.by_symbol[cols[has]]
        post["var_95"] = var_of(end_pnl, "historical")
    return ProposalVerdict(
        passed=all(v.passed for v in verdicts),
        verdicts=tuple(verdicts),
        breaches=tuple(seen_reasons.values()),
        utilisation=col_max,
        post_trade=post,
    )


