"""Transaction cost analysis of one parent order (pure core).

Slippage is in basis points and signed so that positive is worse for the order's
side (DESIGN.md, "Slippage sign"): a buy filled above its benchmark, or a sell
filled below it, has positive slippage. Benchmarks are the arrival price (the
mark when the parent arrived) and the market's VWAP over the order's interval
(``intraday.SessionMarket.vwap`` computes it on the paper market).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from desk.interfaces import FillReport, Side
from desk.money import ZERO, cash, price, to_decimal


def slippage_bps(side: Side, fill_price: float | Decimal, benchmark: float | Decimal) -> float:
    """``side · (fill − benchmark) / benchmark`` in bps; positive = worse for the side."""
    b = float(benchmark)
    if b <= 0:
        raise ValueError("benchmark price must be positive")
    return side.sign * (float(fill_price) - b) / b * 1e4


@dataclass(frozen=True, slots=True)
class TcaReport:
    side: Side
    parent_qty: Decimal
    filled_qty: Decimal
    fill_rate: float  # filled / parent, in [0, 1]
    arrival_price: Decimal
    avg_fill_price: Decimal | None  # None until something fills
    interval_vwap: Decimal | None
    slippage_bps_arrival: float | None
    slippage_bps_vwap: float | None
    fees: Decimal  # sum of the fills' commissions (each already to the cent)
    fees_bps: float | None  # fees over filled notional
    notional: Decimal  # sum of qty x px, to the cent
    n_fills: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: Decimals as strings, so no float ever carries money out of here."""

        def d(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "side": self.side.value,
            "parent_qty": d(self.parent_qty),
            "filled_qty": d(self.filled_qty),
            "fill_rate": self.fill_rate,
            "arrival_price": d(self.arrival_price),
            "avg_fill_price": d(self.avg_fill_price),
            "interval_vwap": d(self.interval_vwap),
            "slippage_bps_arrival": self.slippage_bps_arrival,
            "slippage_bps_vwap": self.slippage_bps_vwap,
            "fees": d(self.fees),
            "fees_bps": self.fees_bps,
            "notional": d(self.notional),
            "n_fills": self.n_fills,
        }


def analyse(
    *,
    side: Side,
    parent_qty: Decimal,
    arrival_price: Decimal | float,
    fills: Sequence[FillReport],
    interval_vwap: Decimal | float | None = None,
) -> TcaReport:
    """The TCA of a parent from its fills (children's fills together)."""
    if parent_qty <= 0:
        raise ValueError("parent quantity must be positive")
    arrival = price(arrival_price)
    vwap = None if interval_vwap is None else price(interval_vwap)
    filled = sum((f.last_qty for f in fills), ZERO)
    gross = sum((f.last_qty * f.last_px for f in fills), ZERO)
    fees = sum((f.commission for f in fills), ZERO)
    avg_exact = gross / filled if filled > 0 else None
    return TcaReport(
        side=side,
        parent_qty=to_decimal(parent_qty),
        filled_qty=filled,
        fill_rate=float(filled / parent_qty),
        arrival_price=arrival,
        avg_fill_price=None if avg_exact is None else price(avg_exact),
        interval_vwap=vwap,
        # Slippage from the unrounded average so 6-place rounding does not bias it.
        slippage_bps_arrival=None if avg_exact is None else slippage_bps(side, avg_exact, arrival),
        slippage_bps_vwap=None if avg_exact is None or vwap is None else slippage_bps(side, avg_exact, vwap),
        fees=fees,
        fees_bps=float(fees / gross * 10_000) if gross > 0 else None,
        notional=cash(gross),
        n_fills=len(fills),
    )
