"""Desk-wide limits (pure): a desk-scope gross, net, daily-loss or order-rate limit measured over
every portfolio it concerns, not over each portfolio on its own.

The caller keeps one *desk book* per set of portfolios that desk-wide limits concern ("*": every
portfolio; "3,12": a limit naming those two; ``limits.desk_key``) and hands the check, in
``RiskContext.desk``, the figures of the *rest* of that book: its totals less this portfolio's part
as last counted (``DeskFigures``).  The check adds this portfolio's own figures, fresh from its
snapshot, so a desk-wide value is "the rest of the desk + this portfolio after the order", read with
the per-portfolio conventions:

- gross and net: positions at the mark plus open orders' unfilled rest as if filled, summed over
  the portfolios (each portfolio's gross is its own: a long here and a short there both count);
- net exposure: a fraction of the desk's NAV (the sum of the portfolios' NAVs), the trade leaving
  NAV unchanged, as for one portfolio;
- daily loss: minus the sum of the portfolios' P&L today; once over, only orders that shrink a
  position pass (the REDUCING rule);
- order rate: the orders admitted desk-wide in the window, this one included.

As for a portfolio, a desk-wide breach needs the order to make the figure worse, so the desk can
always trade out of a breach.  Each kind's ``measure()`` reads a ``DeskView`` exactly as it reads one
order, a proposal or the standing book (``kinds.py``): the formulas stay written once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from desk.interfaces import OrderIntent

NO_DESK_FIGURES = "no desk-wide figures for it yet (the desk book refresh builds them)"


@dataclass(frozen=True, slots=True)
class DeskFigures:
    """The rest of one desk book (without the portfolio being checked), in USD and seconds.

    ``order_times``: epoch seconds of the orders admitted desk-wide in the longest rate window, sorted.
    """

    gross: float = 0.0
    net: float = 0.0
    nav: float = 0.0
    pnl_today: float = 0.0
    order_times: tuple[float, ...] = ()

    def rate_count(self, now, window_s: float):
        return count_in(self.order_times, now, window_s)


def count_in(times, now, window_s: float):
    """How many of the sorted ``times`` fall in (now - window, now]; ``now`` a float or an array."""
    if isinstance(now, np.ndarray):
        arr = np.asarray(times, dtype=float)
        return np.searchsorted(arr, now, "right") - np.searchsorted(arr, now - window_s, "right")
    return bisect.bisect_right(times, now) - bisect.bisect_right(times, now - window_s)


def _grows(new, old):
    """|new| > |old| beyond float noise, for floats or arrays."""
    a = np.abs(old)
    out = np.abs(new) > a + 1e-9 * np.maximum(1.0, a)
    return bool(out) if np.ndim(out) == 0 else out


class DeskView:
    """An exposure ``x`` (one order, a proposal, or the standing book) seen desk-wide.

    ``t``: the wall time of the rate window (an array for a proposal); by default the order's ``t_now``,
    read when the rate is measured (the engine sets it just before).
    """

    __slots__ = ("x", "d", "t", "position_grows", "not_reducing", "gross_after", "net_after", "inv_nav", "net_grows", "loss")

    def __init__(self, x, d: DeskFigures, t=None):
        bk = x.bk
        self.x, self.d, self.t = x, d, t
        # Gross moves desk-wide exactly as in the portfolio: worse when the order grows its |position|.
        self.position_grows, self.not_reducing = x.position_grows, x.not_reducing
        self.gross_after = d.gross + x.gross_after
        self.net_after = d.net + x.net_after
        nav = d.nav + bk.nav
        self.inv_nav = 1.0 / nav if nav > 0 else float("inf")
        if x.net_grows is None:  # the standing book: nothing is being sent
            self.net_grows = None
        else:
            before = getattr(x, "net_before", None)  # a proposal: each trade after the ones before it
            if before is None:
                self.net_grows = _grows(d.net + x.net_after, d.net + bk.net)
            else:
                self.net_grows = _grows(d.net + before + x.dmv, d.net + before)
        loss = max(0.0, -(d.pnl_today + float(bk.snapshot.pnl_today)))
        self.loss = np.full(x.n, loss) if isinstance(x.loss, np.ndarray) else loss

    def orders_in_window(self, window_s: float):
        """The desk's orders in the window in place of the portfolio's; the order (or proposal) itself as before."""
        own = self.x.orders_in_window(window_s)
        t = self.t if self.t is not None else getattr(self.x, "t_now", None)
        if own is None or t is None:
            return None
        return own - count_in(self.x.bk.order_times, t, window_s) + self.d.rate_count(t, window_s)


def portfolio_after(bk, intents: Iterable[OrderIntent]) -> tuple[float, float]:
    """(gross, net) of a book after ``intents`` fill, at the mark: what the portfolio adds to the desk once they pass.

    The same valuation as the checks (``Book.mark_for``): an instrument not held is valued at the
    context's mark, else the order's price; an order that cannot be priced adds nothing.
    """
    end: dict[str, float] = {}
    price: dict[str, float | None] = {}
    for i in intents:
        s = i.symbol
        end[s] = end.get(s, bk.qty.get(s, 0.0)) + float(i.signed_quantity)
        price.setdefault(s, bk.price_for(i))
    gross, net = bk.gross, bk.net
    for s, q in end.items():
        m = bk.mark_for(s, price[s])
        if m is None:
            continue
        old, new = bk.value.get(s, 0.0), q * m
        gross += abs(new) - abs(old)
        net += new - old
    return gross, net
