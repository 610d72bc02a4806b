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

The requests (OrderMassStatusRequest AF, RequestForPositions AN) and the collection of their answers
(``Collection``: 8/I carrying MassStatusReqID 584 until LastRptRequested 912=Y or TotNumReports 911=0;
AO then one AP per symbol carrying PosReqID 710) are here too, as plain tag/value data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from fix_app import mapping

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


def _s(d: Decimal) -> str:
    """A quantity as a person writes it: 90, not 90.0000."""
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")


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
                                                     "qty": _s(f.qty), "px": str(f.px)}))
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
                                                          "leaves_qty": _s(v.leaves_qty)}))
            continue
        desk_cum = order.filled_qty + added.get(order.client_order_id, Decimal(0))
        if v.cum_qty != desk_cum:
            out.breaks.append(Break("quantity", {"venue_cum_qty": _s(v.cum_qty), "desk_filled_qty": _s(desk_cum)},
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
                out.breaks.append(Break("position", {"symbol": sym, "venue": _s(v), "desk": _s(d), "difference": _s(v - d)}))
    return out


# --- Asking the venue, and collecting its answers

MASS_STATUS_REQUEST, REQUEST_FOR_POSITIONS = "AF", "AN"
POSITIONS_ACK, POSITION_REPORT = "AO", "AP"
MASS_STATUS_REQ_ID, MASS_STATUS_REQ_TYPE, TOT_NUM_REPORTS, LAST_RPT_REQUESTED = 584, 585, 911, 912
POS_REQ_ID, POS_REQ_TYPE, ACCOUNT_TYPE, CLEARING_BUSINESS_DATE = 710, 724, 581, 715
TOTAL_NUM_POS_REPORTS, POS_REQ_RESULT, LONG_QTY, SHORT_QTY = 727, 728, 704, 705
ALL_ORDERS, POSITIONS, CUSTOMER_ACCOUNT, NO_POSITIONS_FOUND = "7", "0", "1", "2"


def mass_status_request(req_id: str) -> tuple[str, list[tuple[int, str]]]:
    """(MsgType, body) of an OrderMassStatusRequest for every order of the session."""
    return MASS_STATUS_REQUEST, [(MASS_STATUS_REQ_ID, req_id), (MASS_STATUS_REQ_TYPE, ALL_ORDERS)]


def positions_request(req_id: str, *, account: str, day: date, now: datetime) -> tuple[str, list[tuple[int, str]]]:
    """(MsgType, body) of a RequestForPositions for ``account`` (the desk's account at the venue)."""
    return REQUEST_FOR_POSITIONS, [
        (POS_REQ_ID, req_id), (POS_REQ_TYPE, POSITIONS), (mapping.ACCOUNT, account), (ACCOUNT_TYPE, CUSTOMER_ACCOUNT),
        (CLEARING_BUSINESS_DATE, day.strftime("%Y%m%d")), (mapping.TRANSACT_TIME, mapping.fix_time(now)),
    ]


def is_answer(f: Mapping[int, str]) -> bool:
    """A message that answers a reconciliation request (not a report to apply): AO, AP, or an 8 carrying 584."""
    msg_type = f.get(mapping.MSG_TYPE)
    return msg_type in (POSITIONS_ACK, POSITION_REPORT) or (msg_type == mapping.EXECUTION_REPORT and bool(f.get(MASS_STATUS_REQ_ID)))


def _qty(f: Mapping[int, str], tag: int) -> Decimal:
    try:
        v = Decimal(f.get(tag) or "0")
    except InvalidOperation as exc:
        raise mapping.BadMessage(tag, f"not a number: {f.get(tag)!r}") from exc
    if not v.is_finite() or v < 0:
        raise mapping.BadMessage(tag, f"not a quantity: {f.get(tag)!r}")
    return v


@dataclass
class Collection:
    """The answers to one run's two requests, as they arrive; ``add`` says when each is complete."""

    mass_req_id: str
    pos_req_id: str
    orders: list[VenueOrder] = field(default_factory=list)
    positions: dict[str, Decimal] = field(default_factory=dict)
    orders_done: bool = False
    positions_done: bool = False
    _expected: int | None = None  # AP reports announced by the AO
    _seen: int = 0

    @property
    def done(self) -> bool:
        return self.orders_done and self.positions_done

    def add(self, f: Mapping[int, str]) -> str:
        """Take one answer: "orders" or "positions" when that part just completed, "" when not, "other" when it
        is not this run's (a late answer to a run that timed out). ``mapping.BadMessage`` on nonsense."""
        msg_type = f.get(mapping.MSG_TYPE)
        if msg_type == mapping.EXECUTION_REPORT:
            if f.get(MASS_STATUS_REQ_ID) != self.mass_req_id or self.orders_done:
                return "other"
            if f.get(TOT_NUM_REPORTS) == "0":
                self.orders_done = True
                return "orders"
            side = {"1": "BUY", "2": "SELL"}.get(f.get(mapping.SIDE, ""), "")
            cl = f.get(mapping.CL_ORD_ID, "")
            if any(o.cl_ord_id == cl for o in self.orders):  # a repeat (PossDup)
                return ""
            self.orders.append(VenueOrder(
                cl_ord_id=cl, symbol=f.get(mapping.SYMBOL, ""), side=side,
                cum_qty=_qty(f, mapping.CUM_QTY), leaves_qty=_qty(f, mapping.LEAVES_QTY),
                open=f.get(mapping.ORD_STATUS, "") not in mapping.TERMINAL_ORD_STATUS,
            ))
            total = f.get(TOT_NUM_REPORTS)
            if f.get(LAST_RPT_REQUESTED) == "Y" or (total and total.isdigit() and len(self.orders) >= int(total)):
                self.orders_done = True
                return "orders"
            return ""
        if f.get(POS_REQ_ID) != self.pos_req_id or self.positions_done:
            return "other"
        if msg_type == POSITIONS_ACK:
            total = f.get(TOTAL_NUM_POS_REPORTS, "0")
            self._expected = 0 if f.get(POS_REQ_RESULT) == NO_POSITIONS_FOUND or not total.isdigit() else int(total)
        elif msg_type == POSITION_REPORT:
            symbol = f.get(mapping.SYMBOL, "")
            self.positions[symbol] = self.positions.get(symbol, Decimal(0)) + _qty(f, LONG_QTY) - _qty(f, SHORT_QTY)
            self._seen += 1
        else:
            return "other"
        if self._expected is not None and self._seen >= self._expected:
            self.positions_done = True
            return "positions"
        return ""
