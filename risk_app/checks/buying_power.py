"""The account's checks (pure): buying power, and a long-only portfolio's sellable position.

The rules are ``portfolio_app.account``'s; this module applies them to orders:

- **Buying power.**  An order reserves what it may take from the account's
  capacity (cash, or equity less the initial margin on the positions held):
  a cash account's buy its notional at the dearest price it may fill at plus the
  dearest fee; a margin account's order the initial margin on the part of it that
  adds to gross exposure (against positions plus open orders) plus the fee.  It
  passes while what open orders hold plus its own reservation stays within the
  capacity; an order that adds nothing (a cash account's sell, a margin account's
  reduction) is never refused by it, so an account over its capacity can always
  trade out.  The open orders' reservations are the ones stored when they passed
  (``AccountBook.reserved``), not recomputed at today's prices.
- **Sellable position.**  A cash account (long-only) sells at most what it holds
  less what its open sells already sell: no short sale, ever.
- **A rebalance is one basket.**  The trades of one proposal were sized so that
  its sells pay for its buys (``portfolio_app.trades``), so in a cash account a
  buy may also count what its own proposal's open sells bring in at the least
  (the collar's low less the dearest fee).  A manual order counts no open sell.

The price an order is reserved at: its limit; else its reference (the arrival
price; the mark when none) moved by the tightest blocking price-collar limit
that applies to it, or ``AccountBook.default_collar_pct`` when none does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from desk.interfaces import LimitBreach, OrderIntent, PortfolioSnapshot, Side
from portfolio_app.account import Account, FeeSchedule, buy_reservation, reserve_price, sell_proceeds

from .kinds import BuyingPower, SellablePosition
from .reasons import account_breach, buying_power_reason, sellable_reason, unvalued

ZERO = Decimal(0)
BUYING_POWER = BuyingPower()
SELLABLE = SellablePosition()


@dataclass(frozen=True, slots=True)
class AccountBook:
    """What the account checks read beyond the snapshot (loaded by ``risk_app.snapshots``).

    ``reserved``: what the portfolio's open orders hold back, the orders being checked left out.
    ``open_sells``: per symbol, the unfilled rest of open sells.  ``basket_sells``: per proposal,
    its open sells.  ``proposal_of``: the proposal of each order being checked, by client order id.
    """

    account: Account = Account()
    reserved: Decimal = ZERO
    open_sells: Mapping[str, Decimal] = field(default_factory=dict)
    basket_sells: Mapping[int, tuple[OrderIntent, ...]] = field(default_factory=dict)
    proposal_of: Mapping[str, int] = field(default_factory=dict)
    fees: FeeSchedule = FeeSchedule()
    default_collar_pct: float = 5.0


@dataclass(frozen=True, slots=True)
class AccountVerdict:
    breaches: tuple[LimitBreach, ...] = ()
    reservation: Decimal | None = None


class AccountRun:
    """One portfolio's account while orders are checked against it, in order.

    ``assess`` judges one order; ``take`` books what a passing order holds (so the
    next order of a proposal sees it).  ``collar_of(intent)`` is the engine's collar.
    """

    def __init__(self, snapshot: PortfolioSnapshot, book: AccountBook, *, marks: Mapping[str, float], collar_of):
        self.book, self.account, self.collar_of = book, book.account, collar_of
        self.marks = marks
        gross = ZERO
        self.held_qty: dict[str, Decimal] = {}
        self.committed: dict[str, Decimal] = {}
        for sym, p in snapshot.positions.items():
            gross += abs(p.quantity * p.mark)
            self.held_qty[sym] = p.quantity
            self.committed[sym] = p.quantity
        for o in snapshot.open_orders:
            self.committed[o.symbol] = self.committed.get(o.symbol, ZERO) + o.signed_quantity
        self.capacity = self.account.capacity(cash=snapshot.cash, nav=snapshot.nav, gross=gross)
        self.held = book.reserved
        self.selling: dict[str, Decimal] = dict(book.open_sells)
        self.credit = ZERO  # what earlier sells of the same basket bring in (a proposal checked at once)
        self._basket: dict[int, Decimal] = {}
        self.positions = snapshot.positions

    # -- prices

    def _reference(self, intent: OrderIntent) -> Decimal | None:
        if intent.reference_price is not None:
            return Decimal(intent.reference_price)
        p = self.positions.get(intent.symbol)
        if p is not None:
            return Decimal(p.mark)
        m = self.marks.get(intent.symbol)
        return None if m is None else Decimal(str(m))

    def _px(self, intent: OrderIntent, *, buy: bool) -> Decimal | None:
        return reserve_price(limit_price=intent.limit_price, reference=self._reference(intent),
                             collar_pct=self.collar_of(intent), buy=buy)

    def _basket_credit(self, intent: OrderIntent) -> Decimal:
        pid = self.book.proposal_of.get(intent.client_order_id) if intent.client_order_id else None
        if pid is None:
            return ZERO
        hit = self._basket.get(pid)
        if hit is None:
            hit = ZERO
            for s in self.book.basket_sells.get(pid, ()):
                px = self._px(s, buy=False)
                if px is not None:
                    hit += max(ZERO, sell_proceeds(s.quantity, px, self.book.fees))
            self._basket[pid] = hit
        return hit

    # -- the checks

    def assess(self, intent: OrderIntent) -> tuple[AccountVerdict, dict]:
        """The order's verdict, and what ``take`` books if it goes ahead."""
        qty, sym, acct = Decimal(intent.quantity), intent.symbol, self.account
        buy = intent.side is Side.BUY
        out: list[LimitBreach] = []
        if not acct.margin and not buy:
            held = max(self.held_qty.get(sym, ZERO), ZERO)
            selling = self.selling.get(sym, ZERO)
            sellable = max(held - selling, ZERO)
            if qty > sellable:
                text = sellable_reason(SELLABLE, symbol=sym, qty=qty, held=held, open_sells=selling)
                out.append(account_breach(SELLABLE, float(qty), float(sellable), text))
            # A sell in a cash account holds nothing back (its fee comes off what it brings in).
            credit = ZERO
            px = self._px(intent, buy=False)
            if px is not None and not out:
                credit = max(ZERO, sell_proceeds(qty, px, self.book.fees))
            return AccountVerdict(tuple(out), ZERO), {"sell": qty, "credit": credit}
        px = self._px(intent, buy=True)
        if px is None:
            return AccountVerdict((unvalued(BUYING_POWER, sym, "no price to reserve the order at"),), None), {}
        if acct.margin:
            q_c = self.committed.get(sym, ZERO)
            opening = max(ZERO, abs(q_c + intent.signed_quantity) - abs(q_c))
            notional, fee = buy_reservation(qty, px, self.book.fees)
            margin = acct.margin_of(opening * px)
            credit = ZERO
        else:
            opening = qty
            notional, fee = buy_reservation(qty, px, self.book.fees)
            margin = notional
            credit = self.credit + self._basket_credit(intent)
        reservation = margin + fee
        after = self.held - credit + reservation
        if opening > 0 and after > self.capacity:
            text = buying_power_reason(
                BUYING_POWER, side=intent.side, qty=qty, symbol=sym, account=acct.kind, initial_margin=acct.initial_margin,
                px=px, margin=margin, fee=fee, held=self.held, credit=credit, after=after, capacity=self.capacity,
            )
            out.append(account_breach(BUYING_POWER, float(after), float(self.capacity), text))
        return AccountVerdict(tuple(out), reservation), {"reserve": reservation, "signed": intent.signed_quantity}

    def take(self, intent: OrderIntent, booked: dict) -> None:
        sym = intent.symbol
        if "sell" in booked:
            self.selling[sym] = self.selling.get(sym, ZERO) + booked["sell"]
            self.credit += booked["credit"]
        if "reserve" in booked:
            self.held += booked["reserve"]
        self.committed[sym] = self.committed.get(sym, ZERO) + intent.signed_quantity


def account_check_many(intents: Sequence[OrderIntent], snapshot: PortfolioSnapshot, book: AccountBook, *,
                       marks: Mapping[str, float], collar_of) -> list[AccountVerdict]:
    """Each order against the account, in order, the ones before it that pass counted as open."""
    run = AccountRun(snapshot, book, marks=marks, collar_of=collar_of)
    out = []
    for i in intents:
        verdict, booked = run.assess(i)
        if not verdict.breaches:
            run.take(i, booked)
        out.append(verdict)
    return out
