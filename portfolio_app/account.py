"""The account a portfolio trades in, and what it may still buy. Pure.

- A long-only portfolio is a **cash account**: a buy needs cash that open orders
  have not already reserved, fees included; it never borrows.  It sells only
  what it holds less what its open sells already sell.
- A long/short portfolio is a **margin account**: equity (NAV) must cover the
  initial margin on gross exposure - ``Portfolio.initial_margin`` of it, 50% by
  default (Regulation T) - plus what open orders reserve.

What an open order *reserves* (kept per order by ``orders_app.reservations``) is
the most it can take from that capacity: its notional at the dearest price it may
fill at (a limit order's limit; a market order's reference moved by the price
collar) plus the dearest fee an enabled venue would charge (``FeeSchedule``); in a
margin account only the part of an order that adds to gross exposure needs margin.

The portfolio page and the pre-trade check (``risk_app.checks.buying_power``) read
these rules from here, and proposal construction sizes its buys by them, so the
three agree to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from desk import money

ZERO = Decimal(0)
REG_T = Decimal("0.5")
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The enabled venues' taker fees as ``(bps, minimum per fill)``.

    Which venue fills an order is decided later (by the router, slice by slice), so a
    reservation assumes the dearest: ``max over venues of max(notional * bps, minimum)``.
    """

    venues: tuple[tuple[Decimal, Decimal], ...] = ()

    @classmethod
    def of(cls, rows: Iterable[tuple[object, object]]) -> FeeSchedule:
        return cls(tuple((money.to_decimal(b), money.to_decimal(m)) for b, m in rows))

    def max_fee(self, notional: Decimal) -> Decimal:
        if notional <= 0 or not self.venues:
            return ZERO
        return max(money.cash(max(notional * money.bps(b), m)) for b, m in self.venues)


@dataclass(frozen=True, slots=True)
class Account:
    """``margin``: a long/short portfolio's margin account, else a cash account; ``initial_margin``: a fraction of gross."""

    margin: bool = False
    initial_margin: Decimal = REG_T

    @property
    def kind(self) -> str:
        return "margin account" if self.margin else "cash account"

    def capacity(self, *, cash: Decimal, nav: Decimal, gross: Decimal) -> Decimal:
        """What open orders may hold back in all: the cash (cash account), or equity less the
        initial margin on the positions held (margin account)."""
        return money.cash(nav - self.initial_margin * gross) if self.margin else cash

    def margin_of(self, notional: Decimal) -> Decimal:
        """What ``notional`` of added exposure holds back: all of it in a cash account."""
        return money.cash(notional * self.initial_margin) if self.margin else money.cash(notional)

    def buying_power(self, *, cash: Decimal, nav: Decimal, gross: Decimal, reserved: Decimal) -> Decimal:
        """USD of new positions (before fees) the account may still open: the free capacity, divided
        by the initial margin in a margin account; never below zero."""
        free = self.capacity(cash=cash, nav=nav, gross=gross) - reserved
        if free <= 0:
            return ZERO
        return money.cash(free / self.initial_margin) if self.margin and self.initial_margin > 0 else money.cash(free)


def reserve_price(*, limit_price: Decimal | None, reference: Decimal | None, collar_pct: object, buy: bool) -> Decimal | None:
    """The dearest price an order may fill at: a limit order's limit; a market order's reference moved
    against it by the price collar (up for a buy; down for what a sell brings in). None: no price."""
    if limit_price is not None:
        return money.to_decimal(limit_price)
    if reference is None:
        return None
    move = money.to_decimal(collar_pct) / HUNDRED
    return money.price(money.to_decimal(reference) * (1 + move if buy else 1 - move))


def buy_reservation(qty: Decimal, px: Decimal, fees: FeeSchedule) -> tuple[Decimal, Decimal]:
    """(notional at ``px`` to the cent, the dearest fee on it): a cash account's buy holds back their sum."""
    notional = money.cash(qty * px)
    return notional, fees.max_fee(notional)


def sell_proceeds(qty: Decimal, px: Decimal, fees: FeeSchedule) -> Decimal:
    """What a sell brings in at the least: its notional at ``px`` less the dearest fee."""
    notional = money.cash(qty * px)
    return notional - fees.max_fee(notional)


@dataclass(frozen=True, slots=True)
class ReserveRule:
    """How the pre-trade check will reserve for a proposal's market orders, for sizing its buys.

    ``collar_pct``: per symbol, the collar the check applies (``default_collar_pct`` for the rest);
    ``band_pct``: how far prices may move between the proposal and its approval (the stale band),
    so that buys sized now still fit at approval.
    """

    fees: FeeSchedule = FeeSchedule()
    default_collar_pct: float = 0.0
    collar_pct: Mapping[str, float] = field(default_factory=dict)
    band_pct: float = 0.0

    def _px(self, symbol: str, px: Decimal, buy: bool) -> Decimal:
        band = money.to_decimal(self.band_pct) / HUNDRED
        ref = px * (1 + band if buy else 1 - band)
        return reserve_price(limit_price=None, reference=ref, collar_pct=self.collar_pct.get(symbol, self.default_collar_pct), buy=buy)

    def buy(self, symbol: str, qty: Decimal, px: Decimal) -> Decimal:
        """Cash a buy of ``qty`` at about ``px`` will hold back."""
        return sum(buy_reservation(qty, self._px(symbol, px, True), self.fees), ZERO)

    def sell(self, symbol: str, qty: Decimal, px: Decimal) -> Decimal:
        """Cash a sell of ``qty`` at about ``px`` brings in at the least."""
        return sell_proceeds(qty, self._px(symbol, px, False), self.fees)
