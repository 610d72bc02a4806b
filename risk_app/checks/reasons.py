"""The sentence a person reads for each breach (STYLE.md rule 6), shared by both check paths."""

from __future__ import annotations

from desk.interfaces import LimitBreach, Side, TradingState

from . import limits as K
from .kinds import LimitKind
from .limits import fmt_num, fmt_pct, fmt_qty, fmt_usd

REDUCE_ONLY = "; only orders that reduce a position may pass"


def desk_words(c: LimitKind) -> str:
    """Where a desk-wide figure was measured: the whole desk, or the portfolios the limit names."""
    if c.portfolios is None:
        return "desk-wide"
    return f"of portfolios {', '.join(sorted(c.portfolios, key=int))} together"


def reason(c: LimitKind, value: float, *, symbol: str, side: Side, qty: float, sector: str = "", extra: float = 0.0,
           desk_wide: bool = False) -> str:
    """``extra``: the last price for a collar, the window for a rate; ``desk_wide``: the value is the desk's."""
    name = f"'{c.name}'"
    k = c.kind
    if desk_wide:
        where = desk_words(c)
        if k == K.MAX_GROSS_EXPOSURE:
            return f"Post-trade gross exposure {where} {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}"
        if k == K.MAX_NET_EXPOSURE:
            return f"Post-trade net exposure {where} {fmt_pct(value)} of the desk's NAV exceeds the {fmt_pct(c.thr)} limit {name}"
        if k == K.MAX_DAILY_LOSS:
            return f"Today's loss {where} {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}{REDUCE_ONLY}"
        if k == K.MAX_ORDER_RATE:
            return (
                f"Order rate {where} {fmt_num(value)} per second (over {fmt_num(extra)} s) exceeds the "
                f"{fmt_num(c.thr)} per second limit {name}"
            )
    if k == K.MAX_ORDER_QTY:
        return f"Order quantity {fmt_qty(value)} {symbol} exceeds the {fmt_qty(c.thr)} limit {name}"
    if k == K.MAX_ORDER_NOTIONAL:
        return f"Order notional {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}"
    if k == K.PRICE_COLLAR_PCT:
        return (
            f"Order price for {symbol} is {fmt_num(value)}% from the last price {fmt_num(extra)}, "
            f"beyond the {fmt_num(c.thr)}% collar {name}"
        )
    if k == K.DUPLICATE_WINDOW_S:
        return (
            f"The same order ({side.value} {fmt_qty(qty)} {symbol}) was sent {fmt_num(value)} s ago, "
            f"within the {fmt_num(c.thr)} s duplicate window {name}"
        )
    if k == K.MAX_ORDER_RATE:
        return (
            f"Order rate {fmt_num(value)} per second (over {fmt_num(extra)} s) exceeds the "
            f"{fmt_num(c.thr)} per second limit {name}"
        )
    if k == K.MAX_POSITION_NOTIONAL:
        return f"Post-trade {symbol} position of {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}"
    if k == K.MAX_GROSS_EXPOSURE:
        return f"Post-trade gross exposure {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}"
    if k == K.MAX_NET_EXPOSURE:
        return f"Post-trade net exposure {fmt_pct(value)} of NAV exceeds the {fmt_pct(c.thr)} limit {name}"
    if k == K.MAX_LEVERAGE:
        return f"Post-trade leverage {fmt_num(value)}x exceeds the {fmt_num(c.thr)}x limit {name}"
    if k == K.MAX_CONCENTRATION:
        return f"Post-trade {symbol} weight {fmt_pct(value)} of NAV exceeds the {fmt_pct(c.thr)} limit {name}"
    if k == K.MAX_SECTOR_CONCENTRATION:
        return f"Post-trade {sector} sector weight {fmt_pct(value)} of NAV exceeds the {fmt_pct(c.thr)} limit {name}"
    if k == K.MAX_DAILY_LOSS:
        return f"Today's loss {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}{REDUCE_ONLY}"
    if k == K.MAX_DRAWDOWN:
        return f"Drawdown {fmt_pct(value)} from peak NAV exceeds the {fmt_pct(c.thr)} limit {name}{REDUCE_ONLY}"
    if k == K.MAX_VAR_95:
        return f"Post-trade 1-day 95% VaR {fmt_usd(value)} exceeds the {fmt_usd(c.thr)} limit {name}"
    if k == K.RESTRICTED_INSTRUMENTS:
        return f"{symbol} is on the restricted list {name}"
    return f"Limit {name} breached by {fmt_num(value)}"  # pragma: no cover - every kind is named above


def breach(c: LimitKind, value: float, text: str) -> LimitBreach:
    return LimitBreach(limit_id=c.id, name=c.name, kind=c.kind, action=c.action, threshold=c.thr, value=value, reason=text)


def unvalued(c: LimitKind, symbol: str, what: str) -> LimitBreach:
    """A limit that cannot be evaluated blocks (fail closed), saying what was missing."""
    return LimitBreach(
        limit_id=c.id, name=c.name, kind=c.kind, action=c.action, threshold=c.thr, value=float("nan"),
        reason=f"Limit '{c.name}' cannot be checked for {symbol}: {what}",
    )


def state_breach(state: TradingState, portfolio: str, symbol: str) -> LimitBreach:
    if state is TradingState.HALTED:
        text = f"Trading is HALTED for {portfolio}; no order may pass"
    else:
        text = f"Trading is REDUCING for {portfolio}; only orders that shrink a position pass, and this {symbol} order does not"
    return LimitBreach(limit_id=None, name="Trading state", kind=K.TRADING_STATE, action=K.BLOCK, threshold=0.0, value=0.0, reason=text)


# ---------------------------------------------------------------------------
# The account's checks (buying_power.py): figures to the cent, as the portfolio page shows them


def usd_cents(x) -> str:
    return f"USD {x:,.2f}"


def buying_power_reason(
    c: LimitKind, *, side: Side, qty, symbol: str, account: str, initial_margin, px, margin, fee, held, credit,
    after, capacity,
) -> str:
    """``margin``: what the order's added exposure holds back (its notional in a cash account)."""
    what = (
        f"initial margin of {usd_cents(margin)} ({fmt_pct(float(initial_margin))} of the added exposure at {px:,.6f})"
        if account == "margin account" else f"{usd_cents(margin)} ({fmt_qty(float(qty))} at {px:,.6f})"
    )
    less = f" less {usd_cents(credit)} its proposal's open sells bring in" if credit else ""
    against = "cash" if account == "cash account" else "equity less the initial margin on the positions held"
    return (
        f"{c.name}: {side.value} {fmt_qty(float(qty))} {symbol} needs {what} plus a fee of up to {usd_cents(fee)}; "
        f"with {usd_cents(held)} held for open orders{less} that is {usd_cents(after)} against {against} of "
        f"{usd_cents(capacity)} ({account})"
    )


def sellable_reason(c: LimitKind, *, symbol: str, qty, held, open_sells) -> str:
    sellable = max(held - open_sells, 0)
    return (
        f"{c.name}: SELL {fmt_qty(float(qty))} {symbol} exceeds the {fmt_qty(float(sellable))} a long-only portfolio "
        f"may sell ({fmt_qty(float(held))} held less {fmt_qty(float(open_sells))} in open sells)"
    )


def account_breach(c: LimitKind, value: float, threshold: float, text: str) -> LimitBreach:
    return LimitBreach(limit_id=None, name=c.name, kind=c.kind, action=K.BLOCK, threshold=threshold, value=value, reason=text)
