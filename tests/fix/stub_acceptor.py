"""A scripted FIX 4.4 venue on loopback (a QuickFIX ``SocketAcceptor``) for the gateway's tests and bench.

Not the demo's venue (``manage.py fix_venue``): no market, just answers the desk can predict.
D -> 8/0 then fills (all at once, or ``fills`` parts, each after ``fill_delay_s``); F -> 8/4 (or 9
when ``refuse_cancels``); G -> 8/5; H -> 8/I; AF -> 8/I per open order; AN -> AO, AP per symbol (the
reconciliation the gateway runs on each logon). ``hold`` leaves new orders resting; ``reject``
rejects new orders of those symbols; ``duplicate`` sends every report twice (the same ExecID,
PossResend=Y). Tests send busts, corrections, reports on unknown orders and garbage by hand.

The venue runs in a process of its own (``python -m tests.fix.stub_acceptor``), as a venue does, and the
tests drive it through ``StubVenue``, a handle that calls it over a local connection. Stopping a QuickFIX
acceptor inside the test process (its C++ threads racing the socket the killed gateway left) crashed
pytest now and then; a venue process that stops, or is killed, takes that with it. Every callback
catches everything, since an exception escaping into QuickFIX ends the process.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import os
import pickle
import secrets
import subprocess
import sys
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


class _Venue(fix.Application):
    """The venue itself, in the venue process (``StubVenue`` is the tests' handle on it)."""

    def __init__(self, port: int, *, sender: str = "VENUE", target: str = "DESK", px: Decimal = Decimal("100"),
                 fills: tuple[Decimal, ...] = (Decimal(1),), fill_delay_s: float = 0.0, hold: bool = False,
                 commission: Decimal = Decimal("0.50"), clock=None, directory: Path | None = None, refuse_logons: bool = False):
        super().__init__()
        self.refuse_logons = refuse_logons  # a venue not open yet: every Logon is rejected (RejectLogon)
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
            self.acceptor.stop(True)  # the process ends right after: nothing is destroyed under QuickFIX's threads

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
            fields = mapping.fields_of(message.toString())
            self.admin.append(fields)
        except Exception:
            log.exception("stub fromAdmin")
            return
        if self.refuse_logons and fields.get(mapping.MSG_TYPE) == "A":
            raise fix.RejectLogon("the venue is not open yet")

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


    # -- what the handle calls (by ClOrdID: the test process holds copies of the orders, never the orders)

    SETTABLE = frozenset({"px", "fills", "fill_delay_s", "hold", "commission", "reject", "refuse_cancels", "duplicate",
                          "refuse_logons"})

    def configure(self, **kw) -> None:
        with self.lock:
            for k, v in kw.items():
                if k not in self.SETTABLE:
                    raise AttributeError(f"the stub venue has no setting {k!r}")
                setattr(self, k, v)

    def setting(self, name: str):
        with self.lock:
            return getattr(self, name)

    def book(self) -> dict[str, StubOrder]:
        """A copy of every ClOrdID -> order (one copy per order: its chain's ClOrdIDs share it)."""
        with self.lock:
            return copy.deepcopy(self.orders)

    def load_book(self, orders: dict[str, StubOrder]) -> None:
        with self.lock:
            self.orders = orders

    def fill_of(self, cl_ord_id: str, qty: Decimal, px: Decimal | None = None) -> str:
        with self.lock:
            return self.fill(self.orders[cl_ord_id], qty, px)

    def bust_of(self, cl_ord_id: str, exec_id: str) -> str:
        return self.bust(self.orders[cl_ord_id], exec_id)

    def correct_of(self, cl_ord_id: str, exec_id: str, qty: Decimal, px: Decimal) -> str:
        return self.correct(self.orders[cl_ord_id], exec_id, qty, px)

    def expire_of(self, cl_ord_id: str) -> str:
        return self.expire(self.orders[cl_ord_id])

    def exec_id(self) -> str:
        with self.lock:
            return self._exec_id()

    def logon_state(self) -> tuple[int, bool]:
        return self.logons, self.logged_on()

    def disconnect(self) -> None:
        """The venue drops the connection (the session stays, to log on again)."""
        s = fix.Session.lookupSession(self.sid)
        if s is not None:
            s.disconnect()


class StubVenue:
    """The tests' handle on a scripted venue in its own process: the same calls as the venue, by value.

    ``stub.hold = True`` and the other settings are sent to the venue; ``stub.orders`` is a copy of its book;
    ``stub.fill(o, qty)`` fills the venue's order of ``o``'s ClOrdID. ``stop()`` stops the venue's process,
    ``restarted()`` starts a new one on the same port and store (sequence numbers), as a venue's restart would.
    """

    _REMOTE = frozenset({"send", "messages", "fill_ids", "total_filled", "logged_on", "disconnect"})

    def __init__(self, port: int, *, sender: str = "VENUE", target: str = "DESK", px: Decimal = Decimal("100"),
                 fills: tuple[Decimal, ...] = (Decimal(1),), fill_delay_s: float = 0.0, hold: bool = False,
                 commission: Decimal = Decimal("0.50"), clock=None, directory: Path | None = None, refuse_logons: bool = False):
        d = directory or Path(tempfile.mkdtemp(prefix="fix-stub-"))
        object.__setattr__(self, "_spec", {"port": port, "sender": sender, "target": target, "px": px, "fills": fills,
                                           "fill_delay_s": fill_delay_s, "hold": hold, "commission": commission,
                                           "clock": clock, "directory": d, "refuse_logons": refuse_logons})
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "dir", d)
        object.__setattr__(self, "_proc", None)
        object.__setattr__(self, "_conn", None)
        object.__setattr__(self, "_book", None)

    # -- life

    def start(self) -> "StubVenue":
        from multiprocessing.connection import Client

        key = secrets.token_bytes(16)
        log = open(self.dir / "venue-process.log", "ab")  # noqa: SIM115 - the process's, closed with it
        proc = subprocess.Popen([sys.executable, "-m", "tests.fix.stub_acceptor"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, cwd=Path(__file__).resolve().parents[2],
                                env={**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings")})
        log.close()
        proc.stdin.write(pickle.dumps((key, self._spec)))
        proc.stdin.close()
        line = proc.stdout.readline().decode().strip()
        if not line.isdigit():
            proc.kill()
            proc.wait(10)
            raise RuntimeError(f"the stub venue process did not start: {self._log_tail()}")
        object.__setattr__(self, "_proc", proc)
        object.__setattr__(self, "_conn", Client(("127.0.0.1", int(line)), authkey=key))
        return self

    def stop(self) -> None:
        """The venue goes down: its acceptor stops (logging out whoever is on), then its process ends."""
        proc, conn = self._proc, self._conn
        if proc is None:
            return
        try:
            object.__setattr__(self, "_book", self._call("book"))  # what a restarted venue reads back from its disk
        except RuntimeError:
            pass
        object.__setattr__(self, "_proc", None)
        object.__setattr__(self, "_conn", None)
        try:
            conn.send(("stop", (), {}))
            if conn.poll(15):
                conn.recv()
        except (EOFError, OSError):
            pass
        conn.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()

    def restarted(self, *, refuse_logons: bool = False) -> "StubVenue":
        """This venue stopped and started again as a new process: same port and store (sequence numbers).
        ``refuse_logons``: it rejects every Logon until told otherwise (``stub.refuse_logons = False``)."""
        self.stop()
        s = self._spec
        return StubVenue(s["port"], sender=s["sender"], target=s["target"], px=s["px"], clock=s["clock"],
                         directory=s["directory"], refuse_logons=refuse_logons).start()

    def wait_logon(self, timeout: float = 15.0, *, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logons, on = self._call("logon_state")
            if logons >= count and on:
                return
            time.sleep(0.05)
        raise TimeoutError(f"the gateway did not log on ({self._call('logon_state')[0]} logons)")

    # -- the venue's book and settings, by value

    @property
    def orders(self) -> dict[str, StubOrder]:
        """A copy of the venue's book (once stopped: its book as it stopped)."""
        if self._conn is None and self._book is not None:
            return self._book
        return self._call("book")

    @orders.setter
    def orders(self, orders: dict[str, StubOrder]) -> None:
        self._call("load_book", orders)

    @property
    def lock(self):
        """Each call is atomic at the venue; kept so a test can say which calls belong together."""
        return contextlib.nullcontext()

    def order(self, cl_ord_id: str) -> StubOrder:
        return self.orders[cl_ord_id]

    def fill(self, o: StubOrder, qty: Decimal, px: Decimal | None = None) -> str:
        return self._call("fill_of", o.cl_ord_id, qty, px)

    def bust(self, o: StubOrder, exec_id: str) -> str:
        return self._call("bust_of", o.cl_ord_id, exec_id)

    def correct(self, o: StubOrder, exec_id: str, qty: Decimal, px: Decimal) -> str:
        return self._call("correct_of", o.cl_ord_id, exec_id, qty, px)

    def expire(self, o: StubOrder) -> str:
        return self._call("expire_of", o.cl_ord_id)

    def _exec_id(self) -> str:
        return self._call("exec_id")

    def __getattr__(self, name: str):
        if name in _Venue.SETTABLE:
            return self._call("setting", name)
        if name in self._REMOTE:
            return lambda *a, **kw: self._call(name, *a, **kw)
        raise AttributeError(name)

    def __setattr__(self, name: str, value) -> None:
        if name in _Venue.SETTABLE:
            self._call("configure", **{name: value})
            self._spec[name] = value
        elif name == "orders":
            type(self).orders.fset(self, value)
        else:
            raise AttributeError(f"the stub venue has no setting {name!r}")

    def _call(self, name: str, *args, **kwargs):
        if self._conn is None:
            raise RuntimeError("the stub venue is not running")
        try:
            self._conn.send((name, args, kwargs))
            ok, value = self._conn.recv()
        except (EOFError, OSError) as e:
            raise RuntimeError(f"the stub venue process died ({e!r}): {self._log_tail()}") from e
        if not ok:
            raise RuntimeError(f"the stub venue's {name} failed:\n{value}")
        return value

    def _log_tail(self) -> str:
        p = self.dir / "venue-process.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else "(no log)"


def _serve() -> None:
    """The venue process: start the venue, answer the handle's calls until it says stop or goes away."""
    import traceback
    from multiprocessing.connection import Listener

    import django

    django.setup()  # the venue's reports use the desk's FIX mapping (no database)
    logging.basicConfig(level=logging.WARNING)
    key, spec = pickle.loads(sys.stdin.buffer.read())
    listener = Listener(("127.0.0.1", 0), authkey=key)
    print(listener.address[1], flush=True)
    conn = listener.accept()
    venue = _Venue(**spec).start()
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            break
        if name == "stop":
            venue.stop()
            with contextlib.suppress(OSError):
                conn.send((True, None))
            break
        try:
            conn.send((True, getattr(venue, name)(*args, **kwargs)))
        except Exception:
            conn.send((False, traceback.format_exc()))
    sys.stdout.flush()
    os._exit(0)  # nothing destroyed under QuickFIX's threads: the process ends with them


def _q(d) -> str:
    d = Decimal(str(d))
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    from tests.fix.stub_acceptor import _serve as serve  # the module's classes, not __main__'s: the orders it sends unpickle

    serve()
