"""What the account checks (``risk_app.checks.buying_power``) read, from rows ``snapshot_load`` already has.

Only the venues' fees cost a query of their own (a handful of rows); the rest comes
from the portfolio row and the open orders the snapshot reads anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from desk.interfaces import OrderIntent, OrderStatus, Side
from portfolio_app.account import Account, FeeSchedule
from risk_app.checks import AccountBook

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenOrderRow:
    """One open parent order as the account reads it."""

    symbol: str
    side: str
    rest: Decimal
    reserved: Decimal
    proposal_id: int | None
    status: str
    limit_price: Decimal | None
    arrival_px: Decimal | None
    created: datetime | None = None


def account_book_load(
    *, portfolio_id: int, long_short: bool, initial_margin: Decimal, open_rows: Iterable[OpenOrderRow],
    proposal_of: Mapping[str, int], fees: Iterable[tuple[object, object]] | None = None,
) -> AccountBook:
    """The account of one portfolio: ``open_rows`` its open parent orders, the orders being checked
    left out; ``proposal_of`` the proposal of each order being checked, by client order id; ``fees`` the venues'
    taker fees as ``(bps, minimum)`` when the caller read them already (else read here)."""
    from orders_app.reservations import fee_schedule

    reserved = ZERO
    open_sells: dict[str, Decimal] = {}
    basket: dict[int, list[OrderIntent]] = {}
    wanted = set(proposal_of.values())
    for r in open_rows:
        reserved += r.reserved
        if r.side != Side.SELL.value or r.rest <= 0:
            continue
        open_sells[r.symbol] = open_sells.get(r.symbol, ZERO) + r.rest
        # Only sells that passed the gate fund their proposal's buys (an INITIALIZED one may yet be denied).
        if r.proposal_id in wanted and r.status != OrderStatus.INITIALIZED.value:
            basket.setdefault(r.proposal_id, []).append(OrderIntent(
                portfolio_id=portfolio_id, symbol=r.symbol, side=Side.SELL, quantity=r.rest,
                limit_price=r.limit_price, reference_price=r.arrival_px, ts=r.created,
            ))
    return AccountBook(
        account=Account(margin=bool(long_short), initial_margin=Decimal(initial_margin)),
        reserved=reserved,
        open_sells=open_sells,
        basket_sells={k: tuple(v) for k, v in basket.items()},
        proposal_of=dict(proposal_of),
        fees=FeeSchedule.of(fees) if fees is not None else fee_schedule(),
        default_collar_pct=float(settings.DESK_RESERVE_COLLAR_PCT),
    )

