"""Average-cost position accounting (DESIGN.md, "Positions and P&L"). Pure.

- Adding to a position (or opening one) moves the average cost to the
  quantity-weighted mean of the old cost and the fill price.
- Reducing realises ``(px - avg_cost) * closed_qty`` for a long and the
  opposite for a short; the average cost of what remains is unchanged.
- Going through zero closes the old side (realising) and opens the rest at
  the fill price.
- Fees are booked separately, never in the cost basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from desk.money import cash, price

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionChange:
    quantity: Decimal
    avg_cost: Decimal
    realised: Decimal  # to the cent
    cash_delta: Decimal  # to the cent: -signed notional - commission


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def apply_fill(
    *, quantity: Decimal, avg_cost: Decimal, signed_qty: Decimal, px: Decimal, commission: Decimal = ZERO
) -> PositionChange:
    q0, c0, dq = quantity, avg_cost, signed_qty
    if dq == 0:
        raise ValueError("a fill has a non-zero quantity")
    realised = ZERO
    q1 = q0 + dq
    if q0 == 0 or _sign(q0) == _sign(dq):
        c1 = price((abs(q0) * c0 + abs(dq) * px) / abs(q1))
    else:
        closed = min(abs(dq), abs(q0))
        realised = (px - c0) * closed * _sign(q0)
        if q1 == 0:
            c1 = ZERO
        elif _sign(q1) == _sign(q0):
            c1 = c0
        else:  # flipped through zero: the remainder opens at the fill price
            c1 = price(px)
    return PositionChange(
        quantity=q1,
        avg_cost=c1,
        realised=cash(realised),
        cash_delta=cash(-dq * px) - cash(commission),
    )
