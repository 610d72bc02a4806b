"""Reconciliation of the desk with one venue, as a pure comparison (no I/O).

Inputs are what the desk's books say (its orders at the venue, every ClOrdID of each order's chain,
the fills it booked, its net filled position per symbol at that venue) and what the venue says (its
open orders from an OrderMassStatusRequest, its executions, its positions from RequestForPositions).

Outcome:

- **missing fills**: executions the venue reports on a desk order that the desk has not booked
  (matched by ExecID): to be applied, once;
- **breaks**, each with a kind and the figures, recorded and alerted, never applied:
  ``unknown_order`` (the venue works an order the desk does not know), ``unknown_fill`` (an
  execution on no desk order), ``status`` (the venue works an order the desk thinks finished, or the
  reverse), ``quantity`` (cumulative filled quantity differs beyond what the missing fills explain),
  ``position`` (the venue's net position differs from the desk's after the missing fills).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

OPEN = frozenset({"SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL"})


@dataclass(frozen=True, slots=True)
class DeskOrder:
    client_order_id: str
    chain: frozenset[str]  # every ClOrdID the order was sent or amended under, its own included
    symbol: str
    side: str  # BUY / SELL
    filled_qty: Decimal
    status: str


@dataclass(frozen=True, slots=True)
class VenueOrder:
    cl_ord_id: str
    symbol: str
    side: str
    cum_qty: Decimal
    leaves_qty: Decimal
    open: bool


@dataclass(frozen=True, slots=True)
class VenueFill:
    exec_id: str
    cl_ord_id: str
    symbol: str
    side: str
    qty: Decimal
    px: Decimal
    commission: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Break:
    kind: str
    detail: Mapping[str, str]
    client_order_id: str = ""


@dataclass
class Outcome:
    missing_fills: list[tuple[str, VenueFill]] = field(default_factory=list)  # (desk client order id, fill)
    breaks: list[Break] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.breaks


def _signed(side: str, qty: Decimal) -> Decimal:
    return qty if side == "BUY" else -qty


def compare(
    *,
    desk_orders: Iterable[DeskOrder],
    desk_exec_ids: set[str],
    desk_positions: Mapping[str, Decimal],
    venue_orders: Iterable[VenueOrder],
    venue_fills: Iterable[VenueFill],
    venue_positions: Mapping[str, Decimal] | None,
) -> Outcome:
    """What to apply and what to flag (see the module docstring). ``venue_positions`` None: not asked."""
    out = Outcome()
    by_cl: dict[str, DeskOrder] = {}
    for o in desk_orders:
        for cl in o.chain | {o.client_order_id}:
            by_cl[cl] = o
    added: dict[str, Decimal] = {}
    for f in venue_fills:
        order = by_cl.get(f.cl_ord_id)
        if order is None:
            out.breaks.append(Break("unknown_fill", {"exec_id": f.exec_id, "cl_ord_id": f.cl_ord_id, "symbol": f.symbol,
                                                     "qty": str(f.qty), "px": str(f.px)}))
            continue
        if f.exec_id in desk_exec_ids:
            continue
        out.missing_fills.append((order.client_order_id, f))
        added[order.client_order_id] = added.get(order.client_order_id, Decimal(0)) + f.qty
    venue_orders = list(venue_orders)
    working_at_venue = {by_cl[v.cl_ord_id].client_order_id for v in venue_orders if v.open and v.cl_ord_id in by_cl}
    for o in {o.client_order_id: o for o in by_cl.values()}.values():
        if o.status in OPEN and o.client_order_id not in working_at_venue:
            out.breaks.append(Break("status", {"venue": "not working", "desk": o.status}, o.client_order_id))
    for v in venue_orders:
        order = by_cl.get(v.cl_ord_id)
        if order is None:
            if v.open:
                out.breaks.append(Break("unknown_order", {"cl_ord_id": v.cl_ord_id, "symbol": v.symbol, "side": v.side,
                                                          "leaves_qty": str(v.leaves_qty)}))
            continue
        desk_cum = order.filled_qty + added.get(order.client_order_id, Decimal(0))
        if v.cum_qty != desk_cum:
            out.breaks.append(Break("quantity", {"venue_cum_qty": str(v.cum_qty), "desk_filled_qty": str(desk_cum)},
                                    order.client_order_id))
        if v.open and order.status not in OPEN:
            out.breaks.append(Break("status", {"venue": "working", "desk": order.status}, order.client_order_id))
    if venue_positions is not None:
        expected = dict(desk_positions)
        for cid, f in out.missing_fills:
            expected[f.symbol] = expected.get(f.symbol, Decimal(0)) + _signed(f.side, f.qty)
        for sym in sorted(set(expected) | set(venue_positions)):
            d, v = expected.get(sym, Decimal(0)), venue_positions.get(sym, Decimal(0))
            if d != v:
                out.breaks.append(Break("position", {"symbol": sym, "venue": str(v), "desk": str(d), "difference": str(v - d)}))
    return out
