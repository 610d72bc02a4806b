"""What the checks read, prepared once per snapshot: the 'book'.

A ``PortfolioSnapshot`` holds Decimals and mappings; the checks want floats and
running totals.  ``Book`` turns one snapshot (+ context) into those once, so
each further check against the same snapshot costs only its own arithmetic.
Snapshots are treated as immutable (they are frozen dataclasses; do not mutate
their ``positions`` mapping after handing it to the engine).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from desk.interfaces import OrderIntent, PortfolioSnapshot, TradingState
from risk_app.measures import ReturnsMatrix, drawdown_from_peak, historical_var, parametric_var

if TYPE_CHECKING:
    from .buying_power import AccountBook


_STATE_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What a check may need beyond the snapshot, supplied by the caller (never looked up).

    ``marks``: last prices (price collar; valuing an instrument the portfolio
    does not hold).  ``sectors``: symbol -> sector.  ``returns``: daily returns
    for the VaR limit.  ``now``: wall time for rate and duplicate limits when
    neither the call nor the intent gives one.  ``wall_clock=False`` skips the
    wall-clock limits (simulated time: backtests).  ``desk_state``: the desk-wide
    kill switch, combined with the snapshot's (the stricter one wins).  ``desk``: the desk books the
    desk-wide limits are measured on (``{desk key: checks.desk.DeskFigures}``, the rest of the desk
    without this portfolio); ``None`` (a backtest, the engine alone): a desk limit reads the one
    portfolio it is given, its desk.  ``account``: the portfolio's account
    (``buying_power.AccountBook``); None skips the account checks (a backtest's book, whose fills
    settle at once).
    """

    marks: Mapping[str, float] = field(default_factory=dict)
    sectors: Mapping[str, str] = field(default_factory=dict)
    returns: ReturnsMatrix | None = None
    now: datetime | None = None
    wall_clock: bool = True
    desk_state: TradingState = TradingState.ACTIVE
    desk: Mapping[str, Any] | None = None
    account: AccountBook | None = None


EMPTY_CONTEXT = RiskContext()


def worst_state(a: TradingState, b: TradingState) -> TradingState:
    return a if _STATE_RANK[a] >= _STATE_RANK[b] else b


def ts_of(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


class Book:
    """One snapshot's committed exposure (positions + open orders, as if filled) in floats."""

    __slots__ = (
        "snapshot", "ctx", "nav", "qty", "mark", "value", "gross", "net", "sector_gross",
        "loss", "drawdown", "order_times", "dups", "state", "_pnl", "_var",
    )

    def __init__(self, snapshot: PortfolioSnapshot, ctx: RiskContext):
        self.snapshot = snapshot
        self.ctx = ctx
        qty: dict[str, float] = {}
        mark: dict[str, float] = {}
        value: dict[str, float] = {}
        sector_gross: dict[str, float] = {}
        nav = float(snapshot.cash)
        gross = net = 0.0
        if not snapshot.open_orders:
            # The usual case, in one pass (a new snapshot per order is the live path): the same
            # sums in the same order as the general path below.
            sector_of = ctx.sectors.get
            for s, p in snapshot.positions.items():
                q, m = float(p.quantity), float(p.mark)
                qty[s] = q
                mark[s] = m
                v = q * m
                nav += v
                value[s] = v
                net += v
                gross += abs(v)
                sec = sector_of(s) or p.sector
                if sec:
                    sector_gross[sec] = sector_gross.get(sec, 0.0) + abs(v)
            self.qty, self.mark = qty, mark
        else:
            for s, p in snapshot.positions.items():
                q, m = float(p.quantity), float(p.mark)
                qty[s] = q
                mark[s] = m
                nav += q * m
            for o in snapshot.open_orders:
                if o.symbol not in mark:
                    px = ctx.marks.get(o.symbol) or o.limit_price or o.reference_price
                    mark[o.symbol] = float(px) if px is not None else 0.0
                qty[o.symbol] = qty.get(o.symbol, 0.0) + float(o.signed_quantity)
            self.qty = qty
            self.mark = mark
            for s, q in qty.items():
                v = q * mark[s]
                value[s] = v
                net += v
                gross += abs(v)
                sec = self.sector(s)
                if sec:
                    sector_gross[sec] = sector_gross.get(sec, 0.0) + abs(v)
        self.nav = nav
        self.value, self.gross, self.net, self.sector_gross = value, gross, net, sector_gross
        self.loss = max(0.0, -float(snapshot.pnl_today))
        self.drawdown = drawdown_from_peak(nav, snapshot.peak_nav)
        self.order_times = sorted([t.timestamp() for t in snapshot.recent_order_times])
        dups: dict[tuple, float] = {}
        for o in (*snapshot.recent_orders, *snapshot.open_orders) if snapshot.recent_orders or snapshot.open_orders else ():
            if o.ts is not None:
                k = (o.symbol, o.side, float(o.quantity))
                dups[k] = max(dups.get(k, float("-inf")), o.ts.timestamp())
        self.dups = dups
        self.state = worst_state(snapshot.trading_state, ctx.desk_state)
        self._pnl: np.ndarray | None = None
        self._var: dict[str, float] = {}

    def sector(self, symbol: str, hint: str = "") -> str:
        if hint:
            return hint
        sec = self.ctx.sectors.get(symbol)
        if sec:
            return sec
        p = self.snapshot.positions.get(symbol)
        return p.sector if p is not None else ""

    def price_for(self, intent: OrderIntent) -> float | None:
        """The price an order is valued at: its limit, its reference, else the mark."""
        px = intent.limit_price if intent.limit_price is not None else intent.reference_price
        if px is not None:
            return float(px)
        m = self.mark.get(intent.symbol)
        if m is None:
            m = self.ctx.marks.get(intent.symbol)
        return None if m is None else float(m)

    def mark_for(self, symbol: str, px: float | None) -> float | None:
        """Exposure is measured at the mark; an instrument not held uses the context's, else the order price."""
        m = self.mark.get(symbol)
        if m is None:
            m = self.ctx.marks.get(symbol)
        return float(m) if m is not None else px

    def last_price(self, symbol: str) -> float | None:
        m = self.ctx.marks.get(symbol)
        if m is None:
            p = self.snapshot.positions.get(symbol)
            m = p.mark if p is not None else None
        return None if m is None else float(m)

    def rate_count(self, now: float, window_s: float) -> int:
        """Orders sent in (now - window, now]."""
        t = self.order_times
        return bisect.bisect_right(t, now) - bisect.bisect_right(t, now - window_s)

    def base_pnl(self) -> np.ndarray | None:
        r = self.ctx.returns
        if r is None:
            return None
        if self._pnl is None:
            # Only the held rows: a 50-name book against a 500-name universe reads a tenth of it.
            idx = [r.index.get(s, -1) for s in self.value]
            held = [(j, v) for j, v in zip(idx, self.value.values()) if j >= 0]
            if held:
                cols, vals = zip(*held)
                self._pnl = np.asarray(vals) @ r.by_symbol[list(cols)]
            else:
                self._pnl = np.zeros(r.values.shape[0])
        return self._pnl

    def base_var(self, method: str) -> float:
        v = self._var.get(method)
        if v is None:
            pnl = self.base_pnl()
            v = var_of(pnl, method) if pnl is not None else 0.0
            self._var[method] = v
        return v


def var_of(pnl: np.ndarray, method: str) -> float:
    return parametric_var(pnl, 0.95) if method == "parametric" else historical_var(pnl, 0.95)
