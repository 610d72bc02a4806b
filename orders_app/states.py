"""The order lifecycle (DESIGN.md, "State machines"; NautilusTrader's words and meanings).

Events are commands' outcomes in the venue's vocabulary; ``FILLED`` goes to
PARTIALLY_FILLED or FILLED by quantity, which the caller decides with ``fill_target``.
"""

from __future__ import annotations

from decimal import Decimal

from desk.interfaces import OrderStatus as S
from desk.statemachine import IllegalTransition, TransitionTable

P = TransitionTable.PREVIOUS
FILL = "<fill>"

# Order events (past tense, nautilus): what happened to the order.
DENIED, SUBMITTED, ACCEPTED, REJECTED = "DENIED", "SUBMITTED", "ACCEPTED", "REJECTED"
PENDING_UPDATE, UPDATED, MODIFY_REJECTED = "PENDING_UPDATE", "UPDATED", "MODIFY_REJECTED"
PENDING_CANCEL, CANCELED, CANCEL_REJECTED = "PENDING_CANCEL", "CANCELED", "CANCEL_REJECTED"
EXPIRED, FILLED = "EXPIRED", "FILLED"
EVENTS = (
    DENIED, SUBMITTED, ACCEPTED, REJECTED, PENDING_UPDATE, UPDATED, MODIFY_REJECTED,
    PENDING_CANCEL, CANCELED, CANCEL_REJECTED, EXPIRED, FILLED,
)

_OPEN_COMMON = {
    PENDING_UPDATE: S.PENDING_UPDATE.value,
    PENDING_CANCEL: S.PENDING_CANCEL.value,
    CANCELED: S.CANCELED.value,
    EXPIRED: S.EXPIRED.value,
    FILLED: FILL,
}

ORDER_TABLE = TransitionTable(
    "Order",
    {
        S.INITIALIZED.value: {
            DENIED: S.DENIED.value,
            SUBMITTED: S.SUBMITTED.value,
            REJECTED: S.REJECTED.value,
            CANCELED: S.CANCELED.value,
            EXPIRED: S.EXPIRED.value,
        },
        S.SUBMITTED.value: {ACCEPTED: S.ACCEPTED.value, REJECTED: S.REJECTED.value, **_OPEN_COMMON},
        S.ACCEPTED.value: {UPDATED: S.ACCEPTED.value, **_OPEN_COMMON},
        S.PARTIALLY_FILLED.value: {UPDATED: S.PARTIALLY_FILLED.value, **_OPEN_COMMON},
        S.PENDING_UPDATE.value: {
            UPDATED: P,
            MODIFY_REJECTED: P,
            PENDING_CANCEL: S.PENDING_CANCEL.value,
            CANCELED: S.CANCELED.value,
            EXPIRED: S.EXPIRED.value,
            FILLED: FILL,
        },
        S.PENDING_CANCEL.value: {
            CANCELED: S.CANCELED.value,
            CANCEL_REJECTED: P,
            EXPIRED: S.EXPIRED.value,
            FILLED: FILL,  # a fill can race a cancel; the fill is real
        },
    },
    terminal=frozenset({S.DENIED.value, S.REJECTED.value, S.CANCELED.value, S.EXPIRED.value, S.FILLED.value}),
)

# The one definition of an open and a terminal order, derived from the table.
OPEN_STATUSES = ORDER_TABLE.open
TERMINAL_STATUSES = tuple(sorted(ORDER_TABLE.terminal))

# Statuses an order returns to after PENDING_UPDATE / PENDING_CANCEL.
RESTING = frozenset({S.SUBMITTED.value, S.ACCEPTED.value, S.PARTIALLY_FILLED.value})


def order_next(
    status: str, event: str, *, previous: str = "", filled_qty: Decimal = Decimal(0), quantity: Decimal = Decimal(0)
) -> tuple[str, str]:
    """(new status, new previous status) after ``event``; raises ``IllegalTransition``.

    ``filled_qty`` is the order's filled quantity *after* the fill, for ``FILLED`` events.
    """
    target = ORDER_TABLE.next_status(status, event, previous)
    if target == FILL:
        if filled_qty <= 0 or filled_qty > quantity:
            raise IllegalTransition("Order", status, f"{event} of {filled_qty} on {quantity}")
        target = S.FILLED.value if filled_qty == quantity else S.PARTIALLY_FILLED.value
    # Remember where to come back to when entering a pending state from a resting one.
    if target in (S.PENDING_UPDATE.value, S.PENDING_CANCEL.value) and status in RESTING:
        new_previous = status
    elif target in (S.PENDING_UPDATE.value, S.PENDING_CANCEL.value):
        new_previous = previous
    else:
        new_previous = ""
    # A fill while pending: coming back goes to the filled status, not the stale one.
    if event == FILLED and status in (S.PENDING_UPDATE.value, S.PENDING_CANCEL.value) and target != S.FILLED.value:
        target = status
        new_previous = S.PARTIALLY_FILLED.value
    return target, new_previous


def is_terminal(status: str) -> bool:
    return ORDER_TABLE.is_terminal(status)


__all__ = ["ORDER_TABLE", "EVENTS", "OPEN_STATUSES", "TERMINAL_STATUSES", "IllegalTransition", "order_next", "is_terminal"]
