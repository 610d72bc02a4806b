"""What open orders hold back from their portfolio's buying power.

**Where a reservation lives.**  One Decimal field on the parent order,
``Order.reserved_cash``: the cash (cash account) or margin (margin account) the
order may still take, with the dearest fee (``portfolio_app.account``).  A field
rather than a figure recomputed from open orders each time, because what an
order reserved is what passed the pre-trade gate: later moves of the price, the
collar limit or the venues' fees must not silently change what it holds.  Its
life, all inside the transactions that already lock the order row (and the
portfolio row before it):

- **held** on submit: the gate's ``RiskVerdict.reservation`` for the order
  (``orders_app.submission.order_submit``); a denied order holds nothing;
- **replaced** by an amend that passes the gate (what the amended rest reserves);
  an amend that only lowers the quantity shrinks it pro rata;
- **released** pro rata on each fill (``leaves after / leaves before``: the fill's
  own cash has moved to ``Portfolio.cash`` by then), and to zero when the order
  reaches any terminal status (FILLED, CANCELED, REJECTED, EXPIRED, DENIED).

Child orders reserve nothing: their parent's reservation covers them.  So a
portfolio's reserved total is the sum over its parents, and a terminal order
always reads zero.  The checks read it through ``risk_app.snapshots``, the
portfolio page through the ``desk.ports.Reservations`` port below.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from desk import money
from desk.ports import Reservations
from orders_app import states
from orders_app.models import Order, Venue
from portfolio_app.account import FeeSchedule

ZERO = Decimal(0)
FIELD = "reserved_cash"


def reservation_hold(order: Order, amount: Decimal | None) -> list[str]:
    """Set what a (locked, passing) order holds; the fields the caller saves."""
    order.reserved_cash = money.cash(amount) if amount is not None and amount > 0 else ZERO
    return [FIELD]


def reservation_on_fill(order: Order, qty: Decimal) -> list[str]:
    """Release the filled share of what the order holds; call before ``filled_qty`` moves."""
    held = order.reserved_cash
    leaves = order.quantity - order.filled_qty
    if not held or leaves <= 0:
        return []
    order.reserved_cash = money.cash(held * max(leaves - qty, ZERO) / leaves)
    return [FIELD]


def reservation_on_transition(order: Order, new_status: str) -> list[str]:
    """A terminal order holds nothing."""
    if order.reserved_cash and states.is_terminal(new_status):
        order.reserved_cash = ZERO
        return [FIELD]
    return []


def reservation_set(*, order_id: int, amount: Decimal | None) -> None:
    """An amend that passed the gate: the order now holds what its amended rest reserves. Caller holds the row lock."""
    Order.objects.filter(pk=order_id).update(reserved_cash=money.cash(amount) if amount and amount > 0 else ZERO)


def reservation_requantify(*, order_id: int, old_leaves: Decimal, new_leaves: Decimal) -> None:
    """A quantity lowered without a check: the reservation shrinks with what is left to fill."""
    order = Order.objects.filter(pk=order_id).only("reserved_cash").first()
    if order is None or not order.reserved_cash or old_leaves <= 0 or new_leaves >= old_leaves:
        return
    Order.objects.filter(pk=order_id).update(reserved_cash=money.cash(order.reserved_cash * max(new_leaves, ZERO) / old_leaves))


def reserved_total(*, portfolio_id: int) -> Decimal:
    """What a portfolio's open orders hold back (terminal and child orders hold zero)."""
    total = Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=True).exclude(reserved_cash=0).aggregate(s=Sum(FIELD))["s"]
    return total or ZERO


def fee_schedule() -> FeeSchedule:
    """The enabled venues' taker fees, the dearest of which a reservation holds back."""
    return FeeSchedule.of(Venue.objects.filter(enabled=True).values_list("taker_fee_bps", "min_fee"))


class OrderReservations(Reservations):
    """The ``desk.ports.Reservations`` the portfolio page reads (wired in settings.DESK_PORTS)."""

    def reserved(self, *, portfolio_id: int) -> Decimal:
        return reserved_total(portfolio_id=portfolio_id)
