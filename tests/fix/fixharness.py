"""A raw QuickFIX initiator for tests: logs on to a venue, sends messages given as tag/value pairs, and
records everything it receives (application and session level) as parsed dicts to wait on.

    with FixClient(port, state_dir=tmp_path / "desk") as desk:
        desk.send("D", {11: "C1", 55: "AAPL", 54: "1", 38: "100", 40: "1"})
        ack = desk.wait_for(lambda m: m[35] == "8" and m[11] == "C1")

Its store is a FileStore under ``state_dir``: a second client on the same directory carries on the
session's sequence numbers, as a restarted desk gateway does (resend requests and gap fills).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import quickfix as fix

SOH = "\x01"
Msg = dict  # tag (int) -> value (str), header and body; a repeated tag keeps its first value; key 0: arrival time


def parse(raw: str) -> Msg:
    out: Msg = {}
    for part in raw.split(SOH):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit():
            out.setdefault(int(tag), value)
    return out


def parse_all(raw: str) -> list[tuple[int, str]]:
    """Every field in order (repeating groups included)."""
    return [(int(p.partition("=")[0]), p.partition("=")[2]) for p in raw.split(SOH) if "=" in p]


def fix_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")


def fix_time(raw: str) -> datetime:
    fmt = "%Y%m%d-%H:%M:%S.%f" if "." in raw else "%Y%m%d-%H:%M:%S"
    return datetime.strptime(raw, fmt).replace(tzinfo=timezone.utc)


def data_dictionary() -> Path:
    for prefix in (sys.prefix, sys.base_prefix):
        p = Path(prefix) / "share" / "quickfix" / "FIX44.xml"
        if p.is_file():
            return p
    raise FileNotFoundError("FIX44.xml")


class _App(fix.Application):
    def __init__(self, client: "FixClient"):
        super().__init__()
        self.client = client

    def onCreate(self, sessionID):  # noqa: N802, N803
        return None

    def onLogon(self, sessionID):  # noqa: N802, N803
        self.client._event("logon")

    def onLogout(self, sessionID):  # noqa: N802, N803
        self.client._event("logout")

    def toAdmin(self, message, sessionID):  # noqa: N802, N803
        return None

    def fromAdmin(self, message, sessionID):  # noqa: N802, N803
        self.client._received(message.toString(), admin=True)

    def toApp(self, message, sessionID):  # noqa: N802, N803
        return None

    def fromApp(self, message, sessionID):  # noqa: N802, N803
        self.client._received(message.toString(), admin=False)


class FixClient:
    """One FIX 4.4 initiator session (default DESK -> VENUE) on 127.0.0.1:``port``."""

    def __init__(self, port: int, *, state_dir: Path, sender: str = "DESK", target: str = "VENUE",
                 heartbeat_s: int = 5, reconnect_s: int = 1):
        self.port, self.sender, self.target = port, sender, target
        self.state_dir = Path(state_dir)
        self.session_id = fix.SessionID("FIX.4.4", sender, target)
        self.messages: list[Msg] = []  # application messages, in arrival order
        self.raw: list[str] = []
        self.admin: list[Msg] = []
        self.events: list[tuple[str, float]] = []
        self._cond = threading.Condition()
        self._app = _App(self)
        for d in ("store", "log"):
            (self.state_dir / d).mkdir(parents=True, exist_ok=True)
        settings = fix.SessionSettings()
        settings.setFromString(f"""[DEFAULT]
ConnectionType=initiator
SocketConnectHost=127.0.0.1
SocketConnectPort={port}
SocketNodelay=Y
ReconnectInterval={reconnect_s}
HeartBtInt={heartbeat_s}
FileStorePath={(self.state_dir / "store").resolve()}
FileLogPath={(self.state_dir / "log").resolve()}
NonStopSession=Y
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={data_dictionary()}
ValidateUserDefinedFields=N
ResetOnLogon=N
ResetOnLogout=N
ResetOnDisconnect=N
PersistMessages=Y
CheckLatency=N
TimestampPrecision=6

[SESSION]
BeginString=FIX.4.4
SenderCompID={sender}
TargetCompID={target}
""")
        self._settings = settings
        self._initiator = fix.SocketInitiator(self._app, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))

    # -- lifecycle

    def start(self) -> "FixClient":
        self._initiator.start()
        return self

    def stop(self) -> None:
        """Log out and destroy the initiator: QuickFIX keeps sessions in a process-wide registry by SessionID
        until their initiator is destroyed, and a later client of the same SessionID would send through
        this one's session."""
        if self._initiator is not None:
            self._initiator.stop()
            self._initiator = None

    def __enter__(self) -> "FixClient":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def session(self):
        return fix.Session.lookupSession(self.session_id)

    @property
    def logged_on(self) -> bool:
        s = self.session
        return bool(s and s.isLoggedOn())

    def wait_logon(self, timeout: float = 20.0, *, count: int = 1) -> None:
        """Until the ``count``-th logon of this client (a reconnect is the second)."""
        self._wait(lambda: sum(1 for e, _ in self.events if e == "logon") >= count, timeout, f"logon #{count}")

    def wait_logout(self, timeout: float = 20.0, *, count: int = 1) -> None:
        self._wait(lambda: sum(1 for e, _ in self.events if e == "logout") >= count, timeout, f"logout #{count}")

    # -- sending

    def send(self, msg_type: str, fields: Mapping[int, str] | Iterable[tuple[int, str]], *,
             header: Mapping[int, str] | None = None) -> None:
        """Send one message; fields in order (``TransactTime`` added for D, F, G, H... when missing)."""
        m = fix.Message()
        m.getHeader().setField(fix.MsgType(msg_type))
        for tag, value in (header or {}).items():
            m.getHeader().setField(tag, value)
        items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        if msg_type in {"D", "F", "G", "AN"} and not any(tag == 60 for tag, _ in items):
            items.append((60, fix_now()))
        for tag, value in items:
            m.setField(tag, str(value))
        if not fix.Session.sendToTarget(m, self.session_id):
            raise RuntimeError(f"QuickFIX did not send {msg_type}")

    def new_order(self, clordid: str, symbol: str, side: str, qty, *, price=None, account: str = "", tif: str = "0") -> None:
        fields = [(11, clordid), (55, symbol), (54, side), (38, str(qty)), (40, "2" if price is not None else "1"), (59, tif)]
        if price is not None:
            fields.append((44, str(price)))
        if account:
            fields.append((1, account))
        self.send("D", fields)

    # -- receiving

    def _received(self, raw: str, *, admin: bool) -> None:
        msg = parse(raw)
        msg[0] = time.monotonic()  # key 0 (no FIX tag): when it arrived
        with self._cond:
            if admin:
                self.admin.append(msg)
            else:
                self.messages.append(msg)
                self.raw.append(raw)
            self._cond.notify_all()

    def _event(self, kind: str) -> None:
        with self._cond:
            self.events.append((kind, time.monotonic()))
            self._cond.notify_all()

    def _wait(self, pred: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s; got {self.messages[-5:]} / admin {self.admin[-5:]}")
                self._cond.wait(left)

    def wait_for(self, pred: Callable[[Msg], bool], timeout: float = 15.0, *, count: int = 1, admin: bool = False) -> list[Msg]:
        """The first ``count`` received messages matching ``pred`` (waiting for them)."""
        box = self.admin if admin else self.messages
        found: list[Msg] = []

        def enough() -> bool:
            found[:] = [m for m in list(box) if pred(m)]
            return len(found) >= count

        self._wait(enough, timeout, f"{count} matching message(s)")
        return found[:count]

    def reports(self, clordids: Iterable[str] | None = None, exec_type: str | None = None) -> list[Msg]:
        ids = set(clordids) if clordids is not None else None
        with self._cond:
            return [m for m in self.messages if m.get(35) == "8" and (ids is None or m.get(11) in ids or m.get(41) in ids)
                    and (exec_type is None or m.get(150) == exec_type)]


class VenueProcess:
    """``manage.py fix_venue`` as a subprocess (its own process group) against the database in ``env``."""

    def __init__(self, *, port: int, state_dir: Path, env: Mapping[str, str], args: Iterable[str] = (), base_dir: Path,
                 log: Path | None = None):
        self.port = port
        self.args = [sys.executable, "manage.py", "fix_venue", "--port", str(port), "--store-dir", str(state_dir), *args]
        self.env = {**os.environ, **env}
        self.base_dir = base_dir
        self.log = log or Path(state_dir) / "venue.out"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "VenueProcess":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "a")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.base_dir, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fix_venue exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fix_venue did not listen on {self.port}:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = 15) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def __enter__(self) -> "VenueProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
