"""A scripted FIX 4.4 venue on loopback (a QuickFIX ``SocketAcceptor``) for the gateway's tests and bench.

Not the demo's venue (``manage.py fix_venue``): no market, just answers the desk can predict.
D -> 8/0 then fills (all at once, or ``fills`` parts, each after ``fill_delay_s``); F -> 8/4 (or 9
when ``refuse_cancels``); G -> 8/5; H -> 8/I; AF -> 8/I per open order; AN -> AO, AP per symbol (the
reconciliation the gateway runs on each logon). ``hold`` leaves new orders resting; ``reject``
rejects new orders of those symbols; ``duplicate`` sends every report twice (the same ExecID,
PossResend=Y). Tests send busts, corrections, reports on unknown orders and garbage by hand.

Runs in the test's process (its own C++ threads); every callback catches everything, since an
exception escaping into QuickFIX ends the process.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import quickfix as fix

from fix_app import mapping

log = logging.getLogger("tests.fix.stub")

# Every stopped venue (the Application), kept for the life of the process: QuickFIX's C++ side may still hold
# it (a thread finishing a callback) after stop(); freeing the Python object under it crashed the test
# process at a later stop. Its acceptor is let go: destroying it unregisters its sessions, which the next
# venue on the same SessionID needs.
_RETIRED: list[object] = []


@dataclass
class StubOrder:
    cl_ord_id: str
    order_id: str
    symbol: str
    side: str  # "1" / "2"
    qty: Decimal
    px: Decimal | None
    cum: Decimal = Decimal(0)
    status: str = "0"
    chain: list[str] = field(default_factory=list)
    execs: list[dict] = field(default_factory=list)  # the fills: {"exec_id", "qty", "px"}

    @property
    def leaves(self) -> Decimal:
        return Decimal(0) if self.status in mapping.TERMINAL_ORD_STATUS else self.qty - self.cum


def _dictionary() -> str:
    import sys

    return str(Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml")


class StubVenue(fix.Application):
    def __init__(self, port: int, *, sender: str = "VENUE", target: str = "DESK", px: Decimal = Decimal("100"),
                 fills: tuple[Decimal, ...] = (Decimal(1),), fill_delay_s: float = 0.0, hold: bool = False,
                 commission: Decimal = Decimal("0.50"), clock=None, directory: Path | None = None):
        super().__init__()
        self.clock = clock or _now  # TransactTime: the desk's market time when given its clock
        self.port, self.sender, self.target = port, sender, target
        self.px, self.fills, self.fill_delay_s, self.hold, self.commission = px, fills, fill_delay_s, hold, commission
        self.reject: dict[str, str] = {}
        self.refuse_cancels = ""
        self.duplicate = False
        self.orders: dict[str, StubOrder] = {}  # every ClOrdID of a chain -> the order
        self.received: list[dict[int, str]] = []
        self.admin: list[dict[int, str]] = []  # session messages received (a Reject of ours, ...)
        self.lock = threading.RLock()
        self.logons = 0
        self._ids = itertools.count(1)
        self._run = uuid.uuid4().hex[:6]
        self.dir = directory or Path(tempfile.mkdtemp(prefix="fix-stub-"))
        self.sid = fix.SessionID("FIX.4.4", sender, target)
        self._timers: list[threading.Timer] = []
        self.acceptor = None

    # -- life

    def start(self) -> "StubVenue":
        cfg = self.dir / "stub.cfg"
        cfg.write_text("\n".join([
            "[DEFAULT]", "ConnectionType=acceptor", f"SocketAcceptPort={self.port}", f"FileStorePath={self.dir / 'store'}",
            f"FileLogPath={self.dir / 'log'}", "NonStopSession=Y", "UseDataDictionary=Y", f"DataDictionary={_dictionary()}",
            "ResetOnLogon=N", "ResetOnLogout=N", "ResetOnDisconnect=N", "PersistMessages=Y", "SocketNodelay=Y", "",
            "[SESSION]", "BeginString=FIX.4.4", f"SenderCompID={self.sender}", f"TargetCompID={self.target}", "",
        ]))
        s = fix.SessionSettings(str(cfg))
        self.acceptor = fix.SocketAcceptor(self, fix.FileStoreFactory(s), s, fix.FileLogFactory(s))
        self.acceptor.start()
        return self

    def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        if self.acceptor is not None:
            self.acceptor.stop(True)
            _RETIRED.append(self)
            self.acceptor = None

    def restarted(self) -> "StubVenue":
        """This venue stopped and started again as a new process would: same port and store (sequence numbers)."""
        self.stop()
        again = StubVenue(self.port, sender=self.sender, target=self.target, px=self.px, clock=self.clock, directory=self.dir)
        return again.start()

    def logged_on(self) -> bool:
        s = fix.Session.lookupSession(self.sid)
        return bool(s and s.isLoggedOn())

    def wait_logon(self, timeout: float = 15.0, *, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.logons >= count and self.logged_on():
                return
            time.sleep(0.05)
        raise TimeoutError(f"the gateway did not log on ({self.logons} logons)")

    # -- QuickFIX callbacks

    def onCreate(self, sessionID):  # noqa: N802
        return None

    def onLogon(self, sessionID):  # noqa: N802
        self.logons += 1

    def onLogout(self, sessionID):  # noqa: N802
        return None

    def toAdmin(self, message, sessionID):  # noqa: N802
        return None

    def fromAdmin(self, message, sessionID):  # noqa: N802
        try:
            self.admin.append(mapping.fields_of(message.toString()))
        except Exception:
            log.exception("stub fromAdmin")

    def toApp(self, message, sessionID):  # noqa: N802
        return None

    def fromApp(self, message, sessionID):  # noqa: N802
        try:
            f = mapping.fields_of(message.toString())
            with self.lock:
                self.received.append(f)
                getattr(self, "_on_" + {"D": "new", "F": "cancel", "G": "replace", "H": "status", "AF": "mass_status",
                                       "AN": "positions"}.get(f.get(35, ""), "other"))(f)
        except Exception:
            log.exception("stub fromApp")

    # -- answers

    def _exec_id(self) -> str:
        return f"E{self._run}-{next(self._ids)}"

    def send(self, fields: list[tuple[int, str]], msg_type: str = "8", *, header: list[tuple[int, str]] = ()) -> None:
        msg = fix.Message()
        h = msg.getHeader()
        h.setField(35, msg_type)
        for t, v in header:
            h.setField(t, v)
        for t, v in fields:
            msg.setField(t, str(v))
        fix.Session.sendToTarget(msg, self.sid)

    def report(self, o: StubOrder, exec_type: str, *, cl: str | None = None, orig: str = "", exec_id: str | None = None,
               last: tuple[Decimal, Decimal] | None = None, text: str = "", extra: list[tuple[int, str]] = (), **over) -> str:
        exec_id = exec_id or self._exec_id()
        fields = [
            (37, o.order_id), (11, cl or o.chain[-1]), (17, exec_id), (150, exec_type), (39, over.get("status", o.status)),
            (55, o.symbol), (54, o.side), (38, _q(over.get("qty", o.qty))), (14, _q(over.get("cum", o.cum))),
            (151, _q(over.get("leaves", o.leaves))), (6, _q(self.px if o.cum else Decimal(0))),
            (60, mapping.fix_time(self.clock())),
        ]
        if orig:
            fields.append((41, orig))
        if o.px is not None:
            fields.append((44, _q(o.px)))
        if last is not None:
            fields += [(32, _q(last[0])), (31, _q(last[1])), (12, _q(self.commission)), (13, "3")]
        if text:
            fields.append((58, text))
        fields += list(extra)
        self.send(fields)
        if self.duplicate:
            self.send(fields, header=[(97, "Y")])
        return exec_id

    def _on_new(self, f: dict[int, str]) -> None:
        cl = f[11]
        if cl in self.orders:  # a PossResend of an order we have: the status request that follows settles it
            return
        o = StubOrder(cl, f"V{self._run}-{next(self._ids)}", f.get(55, ""), f.get(54, "1"), Decimal(f[38]),
                      Decimal(f[44]) if 44 in f else None, chain=[cl])
        self.orders[cl] = o
        if o.symbol in self.reject:
            o.status = "8"
            self.report(o, "8", text=self.reject[o.symbol])
            return
        self.report(o, "0")
        if not self.hold:
            self._schedule_fills(o)

    def _schedule_fills(self, o: StubOrder) -> None:
        parts = [(o.qty * p).to_integral_value() for p in self.fills]
        parts[-1] = o.qty - sum(parts[:-1])
        for k, q in enumerate(p for p in parts if p > 0):
            if self.fill_delay_s:
                t = threading.Timer(self.fill_delay_s * (k + 1), self._fill_safe, args=(o, q))
                t.daemon = True
                self._timers.append(t)
                t.start()
            else:
                self.fill(o, q)

    def _fill_safe(self, o: StubOrder, q: Decimal) -> None:
        try:
            with self.lock:
                self.fill(o, q)
        except Exception:
            log.exception("stub fill")

    def fill(self, o: StubOrder, qty: Decimal, px: Decimal | None = None) -> str:
        """Fill ``qty`` of a working order (and say so)."""
        if o.status in mapping.TERMINAL_ORD_STATUS:
            return ""
        qty = min(qty, o.qty - o.cum)
        px = px or o.px or self.px
        o.cum += qty
        o.status = "2" if o.cum == o.qty else "1"
        exec_id = self.report(o, "F", last=(qty, px))
        o.execs.append({"exec_id": exec_id, "qty": qty, "px": px})
        return exec_id

    def _on_cancel(self, f: dict[int, str]) -> None:
        o = self.orders.get(f.get(41, "")) or self.orders.get(f[11])
        if o is None:
            self.send([(37, "NONE"), (11, f[11]), (41, f.get(41, "")), (39, "8"), (434, "1"), (58, "unknown order")], "9")
            return
        if f[11] in o.chain:  # a PossResend of a cancel we did
            return
        if self.refuse_cancels or o.status in mapping.TERMINAL_ORD_STATUS:
            self.send([(37, o.order_id), (11, f[11]), (41, f.get(41, "")), (39, o.status), (434, "1"),
                       (58, self.refuse_cancels or "too late to cancel")], "9")
            return
        o.chain.append(f[11])
        self.orders[f[11]] = o
        o.status = "4"
        self.report(o, "4", cl=f[11], orig=f.get(41, ""))

    def _on_replace(self, f: dict[int, str]) -> None:
        o = self.orders.get(f.get(41, "")) or self.orders.get(f[11])
        if o is None or o.status in mapping.TERMINAL_ORD_STATUS:
            self.send([(37, o.order_id if o else "NONE"), (11, f[11]), (41, f.get(41, "")), (39, o.status if o else "8"),
                       (434, "2"), (58, "cannot replace")], "9")
            return
        if f[11] in o.chain:
            return
        o.chain.append(f[11])
        self.orders[f[11]] = o
        o.qty = Decimal(f[38])
        if 44 in f:
            o.px = Decimal(f[44])
        if o.cum >= o.qty:
            o.status = "2"
        self.report(o, "5", cl=f[11], orig=f.get(41, ""))

    def _on_status(self, f: dict[int, str]) -> None:
        o = self.orders.get(f[11])
        if o is None:
            self.send([(37, "NONE"), (11, f[11]), (17, self._exec_id()), (150, "I"), (39, "8"), (55, f.get(55, "")),
                       (54, f.get(54, "1")), (14, "0"), (151, "0"), (6, "0"), (58, "unknown order")])
            return
        self.report(o, "I", cl=f[11], extra=[(790, f[790])] if 790 in f else [])

    def _on_mass_status(self, f: dict[int, str]) -> None:
        req = f.get(584, "")
        working = [o for o in {id(o): o for o in self.orders.values()}.values() if o.status not in mapping.TERMINAL_ORD_STATUS]
        if not working:
            self.send([(37, "NONE"), (11, "NONE"), (17, self._exec_id()), (150, "I"), (39, "8"), (55, "NONE"), (54, "1"),
                       (14, "0"), (151, "0"), (6, "0"), (584, req), (911, "0"), (912, "Y")])
            return
        for i, o in enumerate(working, 1):
            self.report(o, "I", extra=[(584, req), (911, str(len(working))), (912, "Y" if i == len(working) else "N")])

    def _on_positions(self, f: dict[int, str]) -> None:
        from datetime import date

        from fix_app.venue.messages import to_message
        from fix_app.venue.records import Request
        from fix_app.venue.reports import positions_reports

        held: dict[str, Decimal] = {}
        for o in {id(o): o for o in self.orders.values()}.values():
            for e in o.execs:
                held[o.symbol] = held.get(o.symbol, Decimal(0)) + (e["qty"] if o.side == "1" else -e["qty"])
        req = Request("AN", f)
        for r in positions_reports(req, dict(sorted(held.items())), {}, ids=[self._exec_id() for _ in range(len(held) + 1)],
                                   name=self.sender, day=date.today()):
            fix.Session.sendToTarget(to_message(r), self.sid)

    def _on_other(self, f: dict[int, str]) -> None:
        return None

    def expire(self, o: StubOrder) -> str:
        with self.lock:
            o.status = "C"
            return self.report(o, "C", text="day order expired")

    def bust(self, o: StubOrder, exec_id: str) -> str:
        """Trade cancel (8/H) of fill ``exec_id``: the venue takes it back."""
        with self.lock:
            e = next(e for e in o.execs if e["exec_id"] == exec_id)
            o.execs.remove(e)
            o.cum -= e["qty"]
            o.status = "1" if o.cum else "0"
            return self.report(o, "H", last=(e["qty"], e["px"]), extra=[(19, exec_id)], text="trade busted")

    def correct(self, o: StubOrder, exec_id: str, qty: Decimal, px: Decimal) -> str:
        """Trade correct (8/G) of fill ``exec_id`` to ``qty`` at ``px``."""
        with self.lock:
            e = next(e for e in o.execs if e["exec_id"] == exec_id)
            o.execs.remove(e)
            o.cum += qty - e["qty"]
            o.status = "2" if o.cum == o.qty else "1"
            new = self.report(o, "G", last=(qty, px), extra=[(19, exec_id)], text="trade corrected")
            o.execs.append({"exec_id": new, "qty": qty, "px": px})
            return new

    def messages(self, msg_type: str) -> list[dict[int, str]]:
        with self.lock:
            return [f for f in self.received + self.admin if f.get(35) == msg_type]

    # -- for the tests

    def order(self, cl_ord_id: str) -> StubOrder:
        with self.lock:
            return self.orders[cl_ord_id]

    def total_filled(self) -> Decimal:
        with self.lock:
            return sum((o.cum for o in {id(o): o for o in self.orders.values()}.values()), Decimal(0))

    def fill_ids(self) -> list[str]:
        with self.lock:
            seen = {id(o): o for o in self.orders.values()}.values()
            return [e["exec_id"] for o in seen for e in o.execs]


def _q(d) -> str:
    d = Decimal(str(d))
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
