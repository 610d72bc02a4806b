"""The desk <-> FIX 4.4 message mapping, in one table (docs/fix.md). Pure: no Django, no QuickFIX.

Outbound, one row per command: the message type and the fields built from the command's payload.
Inbound, one row per (MsgType, ExecType): what the desk does with an ExecutionReport (8) or an
OrderCancelReject (9). A message is a list of ``(tag, value)`` pairs in, a ``Report`` out; the
gateway turns them into QuickFIX messages and back.

``parse_report`` refuses, with the tag at fault, what no venue may send (a missing required field,
a non-numeric or negative quantity, a fill of nothing, more filled than ordered): the gateway
rejects such a message at session level (35=3). What is well formed but disagrees with the desk
(CumQty, LeavesQty, OrdStatus: ``STATUS_ALLOWS``) is a reconciliation break, decided once the
report is applied to the desk's order (``orders_app.reports``), which then rolls it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

SOH = "\x01"

# Tags (FIX 4.4 names).
ACCOUNT, AVG_PX, CL_ORD_ID, COMMISSION, COMM_TYPE, CUM_QTY = 1, 6, 11, 12, 13, 14
EXEC_ID, EXEC_REF_ID, LAST_PX, LAST_QTY, MSG_SEQ_NUM, MSG_TYPE = 17, 19, 31, 32, 34, 35
ORDER_ID, ORDER_QTY, ORD_STATUS, ORD_TYPE, ORIG_CL_ORD_ID, POSS_DUP = 37, 38, 39, 40, 41, 43
PRICE, SIDE, SYMBOL, TEXT, TIME_IN_FORCE, TRANSACT_TIME = 44, 54, 55, 58, 59, 60
POSS_RESEND, EX_DESTINATION, CXL_REJ_REASON, DK_REASON = 97, 100, 102, 127
EXEC_TYPE, LEAVES_QTY, CXL_REJ_RESPONSE_TO, ORD_STATUS_REQ_ID = 150, 151, 434, 790

# Message types.
NEW_ORDER, CANCEL, REPLACE, STATUS = "D", "F", "G", "H"
EXECUTION_REPORT, CANCEL_REJECT, DONT_KNOW_TRADE = "8", "9", "Q"

SIDES = {"BUY": "1", "SELL": "2"}
ORD_TYPES = {"MARKET": "1", "LIMIT": "2"}
TIFS = {"DAY": "0", "GTC": "1", "IOC": "3"}

# --- Outbound: one row per command kind -> (MsgType, the payload fields it carries, in order).
# Every command also carries ClOrdID (11), Side (54), Symbol (55), TransactTime (60).
OUTBOUND: dict[str, tuple[str, tuple[str, ...]]] = {
    "new": (NEW_ORDER, ("quantity", "order_type", "limit_price", "time_in_force", "venue")),
    "cancel": (CANCEL, ("orig_cl_ord_id", "quantity")),
    "replace": (REPLACE, ("orig_cl_ord_id", "quantity", "order_type", "limit_price", "time_in_force")),
    "status": (STATUS, ("status_req_id",)),
}

# The outbox serves the control path before the order flow: cancels, replaces, status, then new orders.
PRIORITY = {"cancel": 0, "replace": 1, "status": 2, "new": 3}

# --- Inbound: (MsgType, ExecType) -> the desk's report kind (``orders_app.reports``).
# 9 has no ExecType: its row is keyed by CxlRejResponseTo (1 cancel, 2 cancel/replace).
INBOUND: dict[tuple[str, str], str] = {
    (EXECUTION_REPORT, "0"): "ACCEPTED",         # New: the venue took the order
    (EXECUTION_REPORT, "A"): "PENDING_NEW",      # Pending new: nothing to do yet
    (EXECUTION_REPORT, "F"): "FILL",             # Trade: ExecID is the trade id; LastQty, LastPx, Commission
    (EXECUTION_REPORT, "4"): "CANCELED",         # Canceled (on request, or unsolicited), with the venue's time
    (EXECUTION_REPORT, "5"): "REPLACED",         # Replaced: UPDATED with the new OrderQty / Price
    (EXECUTION_REPORT, "8"): "REJECTED",         # Rejected: Text is the reason; the slice is re-routed
    (EXECUTION_REPORT, "6"): "PENDING_CANCEL",   # Pending cancel
    (EXECUTION_REPORT, "E"): "PENDING_UPDATE",   # Pending replace
    (EXECUTION_REPORT, "C"): "EXPIRED",          # Expired (time in force)
    (EXECUTION_REPORT, "3"): "EXPIRED",          # Done for day
    (EXECUTION_REPORT, "I"): "STATUS",           # Order status: settles what the desk had in doubt
    (EXECUTION_REPORT, "H"): "BUST",             # Trade cancel: the fill ExecRefID names is reversed
    (EXECUTION_REPORT, "G"): "CORRECT",          # Trade correct: that fill rebooked at LastQty / LastPx
    (CANCEL_REJECT, "1"): "CANCEL_REFUSED",      # OrderCancelReject to a cancel: back to the previous status
    (CANCEL_REJECT, "2"): "REPLACE_REFUSED",     # ... to a cancel/replace: MODIFY_REJECTED
}

# OrdStatus (39) -> the desk statuses an order may be in once the report is applied.
_OPEN = frozenset({"SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL"})
STATUS_ALLOWS: dict[str, frozenset[str]] = {
    "0": frozenset({"SUBMITTED", "ACCEPTED", "PENDING_UPDATE", "PENDING_CANCEL"}),  # New
    "1": frozenset({"PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL"}),      # Partially filled
    "2": frozenset({"FILLED"}),                                                     # Filled
    "3": frozenset({"EXPIRED", "CANCELED", "FILLED"}),                              # Done for day
    "4": frozenset({"CANCELED"}),                                                   # Canceled
    "5": _OPEN,                                                                     # Replaced
    "6": _OPEN,                                                                     # Pending cancel
    "8": frozenset({"REJECTED", "CANCELED"}),                                       # Rejected (a re-routed child)
    "A": frozenset({"SUBMITTED", "PENDING_UPDATE", "PENDING_CANCEL"}),              # Pending new
    "C": frozenset({"EXPIRED"}),                                                    # Expired
    "E": _OPEN,                                                                     # Pending replace
}
TERMINAL_ORD_STATUS = frozenset({"2", "3", "4", "8", "C"})

# DontKnowTrade reasons (127).
DK_NO_MATCHING_ORDER, DK_OTHER = "D", "Z"


class BadMessage(ValueError):
    """A message no venue may send; ``tag`` is the field at fault (the session-level Reject's RefTagID)."""

    def __init__(self, tag: int, why: str):
        super().__init__(f"tag {tag}: {why}")
        self.tag, self.why = tag, why


@dataclass(frozen=True, slots=True)
class Report:
    """An ExecutionReport or OrderCancelReject as the desk reads it."""

    msg_type: str
    kind: str  # a value of INBOUND
    cl_ord_id: str
    orig_cl_ord_id: str
    exec_id: str  # for a 9, "CXLREJ:<ClOrdID>": a repeated reject is the same one
    exec_type: str
    ord_status: str
    order_id: str = ""
    symbol: str = ""
    side: str = ""  # BUY / SELL
    order_qty: Decimal | None = None
    price: Decimal | None = None
    cum_qty: Decimal | None = None
    leaves_qty: Decimal | None = None
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    commission: Decimal = Decimal(0)
    exec_ref_id: str = ""
    text: str = ""
    transact_time: datetime | None = None
    poss_dup: bool = False
    poss_resend: bool = False

    @property
    def terminal(self) -> bool:
        return self.ord_status in TERMINAL_ORD_STATUS

    def as_detail(self) -> dict:
        """The report as JSON-able data (a break's or an audit's detail)."""
        out = {}
        for name in self.__slots__:
            v = getattr(self, name)
            if isinstance(v, Decimal):
                v = format(v, "f")
            elif isinstance(v, datetime):
                v = v.isoformat()
            out[name] = v
        return out


def fields_of(raw: str) -> dict[int, str]:
    """A raw FIX message's fields by tag (the first of a repeated tag: reports carry no groups we read)."""
    out: dict[int, str] = {}
    for part in raw.split(SOH):
        if not part:
            continue
        tag, sep, value = part.partition("=")
        if not sep or not tag.isdigit():
            raise BadMessage(0, f"not a FIX field: {part[:40]!r}")
        out.setdefault(int(tag), value)
    return out


def _dec(f: Mapping[int, str], tag: int, *, required: bool = False, positive: bool = False,
         non_negative: bool = False) -> Decimal | None:
    raw = f.get(tag)
    if raw is None or raw == "":
        if required:
            raise BadMessage(tag, "required field missing")
        return None
    try:
        v = Decimal(raw)
    except InvalidOperation as exc:
        raise BadMessage(tag, f"not a number: {raw!r}") from exc
    if not v.is_finite():
        raise BadMessage(tag, f"not a number: {raw!r}")
    if positive and v <= 0:
        raise BadMessage(tag, f"must be positive, not {raw}")
    if non_negative and v < 0:
        raise BadMessage(tag, f"must not be negative, not {raw}")
    return v


def _time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    for fmt in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise BadMessage(TRANSACT_TIME, f"not a UTC timestamp: {raw!r}")


def fix_time(ts: datetime) -> str:
    """UTCTimestamp with milliseconds."""
    return ts.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def parse_report(f: Mapping[int, str], header: Mapping[int, str] | None = None) -> Report:
    """An 8 or a 9 as a ``Report``; ``BadMessage`` when it is malformed or impossible in itself."""
    header = header or f
    msg_type = header.get(MSG_TYPE, f.get(MSG_TYPE, ""))
    cl = f.get(CL_ORD_ID, "")
    orig = f.get(ORIG_CL_ORD_ID, "")
    common = {
        "cl_ord_id": cl, "orig_cl_ord_id": orig, "order_id": f.get(ORDER_ID, ""), "symbol": f.get(SYMBOL, ""),
        "text": f.get(TEXT, "")[:500], "transact_time": _time(f.get(TRANSACT_TIME)),
        "poss_dup": header.get(POSS_DUP) == "Y", "poss_resend": header.get(POSS_RESEND) == "Y",
    }
    side = {"1": "BUY", "2": "SELL"}.get(f.get(SIDE, ""), "")
    if msg_type == CANCEL_REJECT:
        if not cl:
            raise BadMessage(CL_ORD_ID, "required field missing")
        to = f.get(CXL_REJ_RESPONSE_TO, "")
        kind = INBOUND.get((CANCEL_REJECT, to))
        if kind is None:
            raise BadMessage(CXL_REJ_RESPONSE_TO, f"not 1 or 2: {to!r}")
        return Report(msg_type=msg_type, kind=kind, exec_id=f"CXLREJ:{cl}", exec_type="", ord_status=f.get(ORD_STATUS, ""),
                      side=side, **common)
    if msg_type != EXECUTION_REPORT:
        raise BadMessage(MSG_TYPE, f"not a report: {msg_type!r}")
    exec_type = f.get(EXEC_TYPE, "")
    kind = INBOUND.get((EXECUTION_REPORT, exec_type))
    if kind is None:
        raise BadMessage(EXEC_TYPE, f"unsupported ExecType {exec_type!r}")
    exec_id = f.get(EXEC_ID, "")
    if not exec_id:
        raise BadMessage(EXEC_ID, "required field missing")
    ord_status = f.get(ORD_STATUS, "")
    if ord_status not in STATUS_ALLOWS:
        raise BadMessage(ORD_STATUS, f"unsupported OrdStatus {ord_status!r}")
    if not cl and not orig:
        raise BadMessage(CL_ORD_ID, "required field missing")
    order_qty = _dec(f, ORDER_QTY, non_negative=True)
    cum = _dec(f, CUM_QTY, required=True, non_negative=True)
    leaves = _dec(f, LEAVES_QTY, required=True, non_negative=True)
    price = _dec(f, PRICE, positive=True)
    trade = kind in ("FILL", "CORRECT")
    last_qty = _dec(f, LAST_QTY, required=trade, positive=trade, non_negative=True)
    last_px = _dec(f, LAST_PX, required=trade, positive=trade, non_negative=True)
    commission = _dec(f, COMMISSION, non_negative=True) or Decimal(0)
    if order_qty is not None:
        if cum > order_qty:
            raise BadMessage(CUM_QTY, f"CumQty {cum} over OrderQty {order_qty}")
        if cum + leaves > order_qty:
            raise BadMessage(LEAVES_QTY, f"CumQty {cum} + LeavesQty {leaves} over OrderQty {order_qty}")
    if kind == "FILL" and last_qty > cum:
        raise BadMessage(LAST_QTY, f"LastQty {last_qty} over CumQty {cum}")
    if ord_status == "2" and leaves != 0:
        raise BadMessage(LEAVES_QTY, f"a filled order with LeavesQty {leaves}")
    if kind in ("BUST", "CORRECT") and not f.get(EXEC_REF_ID):
        raise BadMessage(EXEC_REF_ID, "a trade cancel or correct names the trade it changes")
    return Report(
        msg_type=msg_type, kind=kind, exec_id=exec_id, exec_type=exec_type, ord_status=ord_status, side=side,
        order_qty=order_qty, price=price, cum_qty=cum, leaves_qty=leaves, last_qty=last_qty, last_px=last_px,
        commission=commission, exec_ref_id=f.get(EXEC_REF_ID, ""), **common,
    )


def _qty(v) -> str:
    d = Decimal(str(v))
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")


def command_fields(kind: str, *, cl_ord_id: str, payload: Mapping, now: datetime, poss_resend: bool = False,
                   account: str = "") -> tuple[str, list[tuple[int, str]], list[tuple[int, str]]]:
    """(MsgType, header fields, body fields) of one outbox command; a new order carries ``account`` (Account 1: the
    desk's account at the venue, which its positions are kept under and asked for by)."""
    msg_type, carried = OUTBOUND[kind]
    header = [(POSS_RESEND, "Y")] if poss_resend else []
    body: list[tuple[int, str]] = [
        (CL_ORD_ID, cl_ord_id), (SIDE, SIDES[payload["side"]]), (SYMBOL, payload["symbol"]), (TRANSACT_TIME, fix_time(now)),
    ]
    if account and kind == "new":
        body.append((ACCOUNT, account))
    for name in carried:
        value = payload.get(name)
        if value in (None, ""):
            continue
        if name == "quantity":
            body.append((ORDER_QTY, _qty(value)))
        elif name == "order_type":
            body.append((ORD_TYPE, ORD_TYPES[value]))
        elif name == "limit_price":
            body.append((PRICE, format(Decimal(str(value)).normalize(), "f")))
        elif name == "time_in_force":
            body.append((TIME_IN_FORCE, TIFS.get(value, "0")))
        elif name == "orig_cl_ord_id":
            body.append((ORIG_CL_ORD_ID, value))
        elif name == "venue":
            body.append((EX_DESTINATION, value))
        elif name == "status_req_id":
            body.append((ORD_STATUS_REQ_ID, str(value)))
    if kind in ("new", "replace") and payload.get("order_type") == "MARKET":
        body = [(t, v) for t, v in body if t != PRICE]
    return msg_type, header, body


def dont_know_trade(report: Report, why: str) -> tuple[str, list[tuple[int, str]]]:
    """(MsgType, body) of the DontKnowTrade (Q) answering a report the desk cannot match."""
    body = [
        (ORDER_ID, report.order_id or "NONE"), (EXEC_ID, report.exec_id), (DK_REASON, DK_NO_MATCHING_ORDER),
        (SYMBOL, report.symbol or "[N/A]"), (SIDE, SIDES.get(report.side, "1")), (TEXT, why[:120]),
    ]
    if report.order_qty is not None:
        body.append((ORDER_QTY, _qty(report.order_qty)))
    if report.last_qty is not None:
        body.append((LAST_QTY, _qty(report.last_qty)))
    if report.last_px is not None:
        body.append((LAST_PX, format(report.last_px.normalize(), "f")))
    return DONT_KNOW_TRADE, body


def settings_digest(rows: Iterable[Mapping]) -> str:
    """A fingerprint of the FIX session settings, to see that an edit needs the sessions reloaded."""
    import hashlib

    keys = ("code", "fix_begin_string", "fix_sender_comp_id", "fix_target_comp_id", "fix_host", "fix_port", "fix_heartbeat_s")
    text = "\n".join("|".join(str(r.get(k)) for k in keys) for r in sorted(rows, key=lambda r: r["code"]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = [
    "BadMessage", "INBOUND", "OUTBOUND", "PRIORITY", "Report", "command_fields", "dont_know_trade",
    "fields_of", "fix_time", "parse_report", "settings_digest", "STATUS_ALLOWS",
]
