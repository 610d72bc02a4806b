"""The desk's rounding rules, stated once (DESIGN.md, "Money and quantities").

- Prices carry 6 decimal places (adjusted history has prices under a dollar).
- Cash, fees and P&L are rounded to the cent, half-even, once per fill.
- Quantities are whole lots: weights become shares by flooring to the lot size,
  so a buy never spends cash the portfolio does not have.

Floats live only inside numerical cores; they cross into Decimal here.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

PRICE_PLACES = 6
PRICE_QUANTUM = Decimal("0.000001")
CASH_QUANTUM = Decimal("0.01")
ZERO = Decimal("0")


def to_decimal(value: object) -> Decimal:
    """A float, int, str or Decimal as a Decimal, via str so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if hasattr(value, "dtype"):  # a numpy scalar: its str() is "np.float64(…)" under numpy 2
        value = value.item()
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return Decimal(str(value))


def price(value: object) -> Decimal:
    """A price with 6 places, half-even."""
    return to_decimal(value).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def cash(value: object) -> Decimal:
    """An amount of money to the cent, half-even."""
    return to_decimal(value).quantize(CASH_QUANTUM, rounding=ROUND_HALF_EVEN)


def floor_to_lot(quantity: object, lot_size: object = 1) -> Decimal:
    """Largest whole number of lots not above ``quantity`` in magnitude (towards zero)."""
    qty = to_decimal(quantity)
    lot = to_decimal(lot_size)
    if lot <= 0:
        raise ValueError("lot size must be positive")
    lots = (qty / lot).to_integral_value(rounding=ROUND_DOWN)
    return (lots * lot).quantize(Decimal("1")) if lot == lot.to_integral_value() else lots * lot


def bps(value: object) -> Decimal:
    """Basis points as a fraction: bps(5) == Decimal('0.0005')."""
    return to_decimal(value) / Decimal(10_000)
