"""The FIX venue's plain data: inbound requests, outbound reports, the venue's record of an order, FIX codes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from desk.interfaces import OrderStatus, OrderType, Side, TimeInForce
from desk.venue import TERMINAL

SIDES = {"1": Side.BUY, "2": Side.SELL}
ORD_TYPES = {"1": OrderType.MARKET, "2": OrderType.LIMIT}
TIFS = {"0": TimeInForce.DAY, "1": TimeInForce.GTC, "3": TimeInForce.IOC}
ORD_STATUS = {
    OrderStatus.ACCEPTED: "0", OrderStatus.PARTIALLY_FILLED: "1", OrderStatus.FILLED: "2", OrderStatus.CANCELED: "4",
    OrderStatus.REJECTED: "8", OrderStatus.EXPIRED: "C",
}
TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
PX = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Request:
    """One inbound application message: its type, its fields by tag (first occurrence), where from."""

    msg_type: str
    fields: dict[int, str]
    session: str = ""
    poss_resend: bool = False
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """One outbound message: its type, its body fields in order, repeating groups as (count tag, entries)."""

    msg_type: str
    fields: tuple[tuple[int, str], ...]
    session: str = ""
    groups: tuple[tuple[int, tuple[tuple[tuple[int, str], ...], ...]], ...] = ()

    def to_json(self) -> dict:
        return {"msg_type": self.msg_type, "fields": [list(f) for f in self.fields], "session": self.session,
                "groups": [[n, [[list(f) for f in e] for e in entries]] for n, entries in self.groups]}

    @classmethod
    def from_json(cls, d: dict) -> "Report":
        return cls(d["msg_type"], tuple((int(k), v) for k, v in d["fields"]), d.get("session", ""),
                   tuple((n, tuple(tuple((int(k), v) for k, v in e) for e in entries)) for n, entries in d.get("groups", [])))


@dataclass(slots=True)
class VenueOrder:
    """The venue's record of one order beside its matching state: identities, account, what was reported."""

    key: str  # the first ClOrdID: the matching model's client_order_id, so trade ids are <key>-<n>
    order_id: str
    clordid: str  # the ClOrdID now in force (after the last accepted cancel or replace)
    chain: list[str]  # every ClOrdID that names this order, in the order they arrived
    session: str
    account: str
    symbol: str
    side: str  # FIX code
    ord_type: str
    tif: str
    quantity: str
    price: str | None
    day: str  # the market session it was accepted in (ISO date)
    reject: str = ""  # refused before it reached the matching (no matching state)
    reported_fills: int = 0
    reported_status: str = OrderStatus.ACCEPTED.value


def num(d: Decimal) -> str:
    s = format(d.normalize(), "f")
    return s if s != "-0" else "0"


def fix_time(ts: datetime) -> str:
    """UTCTimestamp with microseconds (QuickFIX reads up to nanoseconds)."""
    return ts.astimezone(timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")


def to_ms(ts: datetime) -> datetime:
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def decimal_or_none(raw: str | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        d = Decimal(raw)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def refuse_share(share: float, text: str = "") -> Callable[[str], str]:
    """A deterministic fault: refuse the share ``share`` of ClOrdIDs, chosen by a hash of the ClOrdID
    (the same ClOrdID is refused in every run and every process)."""

    def refuse(clordid: str) -> str:
        if share <= 0:
            return ""
        h = int.from_bytes(hashlib.sha256(clordid.encode()).digest()[:8], "big") / 2**64
        return (text or f"venue fault mode: refused (reject share {share:g})") if h < share else ""

    return refuse
