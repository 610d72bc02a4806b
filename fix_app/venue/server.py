"""The FIX venue process: a QuickFIX acceptor in front of the venue's book.

Threads. QuickFIX calls back on its own C++ threads (one per connection). Each callback only
turns the message into plain data and puts it on ``inbox``; one thread, the *book thread*,
drains that queue, owns the book, reads the desk's market through the ORM and sends every report
(``Session.sendToTarget`` is thread-safe). So the book needs no lock, and no QuickFIX thread ever
waits on the database. The acceptor is QuickFIX's ``ThreadedSocketAcceptor`` because its
``disconnect`` (the drop fault, called from the book thread) only closes the socket; the
single-threaded ``SocketAcceptor``'s socket monitor is not safe to touch from another thread.

Durability. After each change the book thread writes the book (``book.json``: every order's
matching state, its ClOrdID chain, the positions, and the reports about to go out) atomically,
*then* sends the reports: a venue killed between the two re-sends them at start with
``PossResend=Y`` (the desk applies a report once by ExecID), and never loses an order it acked.
QuickFIX's FileStore (``PersistMessages=Y``, ``ResetOnLogon=N``) keeps the session's sequence
numbers and sent messages, so the desk's resend requests and gap fills work across restarts, and
reports sent while the desk is away (fills, cancel-on-disconnect) reach it by resend on its next
logon.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import queue
import threading
import time
from pathlib import Path

import quickfix as fix
import structlog
from django.db import close_old_connections

from fix_app.venue import tags as t
from fix_app.venue.book import VenueBook
from fix_app.venue.config import VenueConfig, session_settings_text
from fix_app.venue.messages import mark_poss_dup, request_from, to_message
from fix_app.venue.records import Report, Request, refuse_share

log = structlog.get_logger("desk.fix_venue")
BATCH = 256  # inbound messages handled per book write


class VenueApplication(fix.Application):
    """QuickFIX's callbacks. Each runs on a QuickFIX thread: it reads nothing, decides nothing, only
    queues plain data for the book thread (an unsupported message type is refused here, by QuickFIX's
    BusinessMessageReject)."""

    def __init__(self, inbox: queue.Queue):
        super().__init__()
        self.inbox = inbox
        self.marking = threading.local()  # set by the book thread around a send that must go out as a PossDup

    def onCreate(self, sessionID):  # noqa: N802, N803 - QuickFIX's names
        return None

    def onLogon(self, sessionID):  # noqa: N802, N803
        self.inbox.put(("logon", sessionID.toString()))

    def onLogout(self, sessionID):  # noqa: N802, N803
        self.inbox.put(("logout", sessionID.toString()))

    def toAdmin(self, message, sessionID):  # noqa: N802, N803
        return None

    def fromAdmin(self, message, sessionID):  # noqa: N802, N803
        return None

    def toApp(self, message, sessionID):  # noqa: N802, N803
        # QuickFIX strips PossDupFlag from a fresh send (Session::send) and calls this after: the flag goes on here.
        if getattr(self.marking, "poss_dup", False):
            mark_poss_dup(message)

    def fromApp(self, message, sessionID):  # noqa: N802, N803
        req = request_from(message, sessionID.toString())
        if req.msg_type not in t.SUPPORTED:
            raise fix.UnsupportedMessageType()
        self.inbox.put(("app", req))


def write_atomic(path: Path, text: str) -> None:
    """The whole file or the previous one, whenever the process dies (no fsync: like QuickFIX's FileStore,
    it survives a crash of the process, not of the machine)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class VenueServer:
    """The acceptor, the inbox and the book thread; ``start`` then ``stop``."""

    def __init__(self, cfg: VenueConfig, *, loader, clock):
        self.cfg = cfg
        self.inbox: queue.Queue = queue.Queue()
        self.book = VenueBook(loader, clock=clock, name=cfg.sender_comp_id,
                              refuse=refuse_share(cfg.reject_share, cfg.reject_text), pending_acks=cfg.pending_acks)
        self.session_id = fix.SessionID("FIX.4.4", cfg.sender_comp_id, cfg.target_comp_id)
        self.session_key = self.session_id.toString()
        self.app = VenueApplication(self.inbox)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._delayed: list[tuple[float, int, Request]] = []
        self._seq = itertools.count()
        self._outbox: list[tuple[Report, bool]] = []  # (report, re-sent after a restart)
        self._outbox_on_disk = False
        self._received = 0  # application messages on the current connection
        self._dropped = False
        self.thread = threading.Thread(target=self._run, name="fix-venue-book", daemon=True)
        self.acceptor = None

    # -- lifecycle

    def start(self) -> None:
        """Load the book (on the book thread), then open the port."""
        for d in (self.cfg.state_dir, self.cfg.store_path, self.cfg.log_path):
            d.mkdir(parents=True, exist_ok=True)
        self.thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed
        settings = fix.SessionSettings()
        settings.setFromString(session_settings_text(self.cfg))
        self.acceptor = fix.ThreadedSocketAcceptor(self.app, fix.FileStoreFactory(settings), settings,
                                                   fix.FileLogFactory(settings))
        self.acceptor.start()
        log.info("fix_venue.started", port=self.cfg.port, session=self.session_key, venue=self.cfg.venue_code,
                 orders=len(self.book.orders), open=len(self.book.open_keys()), faults=self.faults())

    def stop(self) -> None:
        """The book thread finishes what it holds and writes the book; then the acceptor logs out. The
        venue keeps its book across a restart, so stopping cancels nothing."""
        self._stop.set()
        self.thread.join(30)
        if self.acceptor is not None:
            self.acceptor.stop()
        log.info("fix_venue.stopped", session=self.session_key)

    def faults(self) -> dict:
        c = self.cfg
        return {k: v for k, v in {
            "reject_share": c.reject_share, "drop_after": c.drop_after, "ack_delay_ms": c.ack_delay_ms, "query_delay_ms": c.query_delay_ms,
            "duplicate_reports": c.duplicate_reports, "cancel_on_disconnect": c.cancel_on_disconnect,
            "pending_acks": c.pending_acks,
        }.items() if v}

    # -- the book thread

    def _run(self) -> None:
        from django.db import connection

        try:
            self._load()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._failed = exc
            self._ready.set()
            connection.close()
            return
        self._ready.set()
        tick_s = self.cfg.tick_ms / 1000.0
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                due = min(next_tick, self._delayed[0][0] if self._delayed else math.inf)
                events = []
                try:
                    events.append(self.inbox.get(timeout=max(0.0, min(due - time.monotonic(), 0.5))))
                    while len(events) < self._batch_limit():
                        events.append(self.inbox.get_nowait())
                except queue.Empty:
                    pass
                reports: list[Report] = []
                for ev in events:
                    reports += self._event(ev)
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    reports += self._apply(heapq.heappop(self._delayed)[2])
                if now >= next_tick:
                    reports += self._guarded(self.book.tick)
                    next_tick = now + tick_s
                if reports or any(ev[0] == "app" for ev in events):
                    self._commit(reports)
                elif self._outbox and self.acceptor is not None:
                    self._send_outbox()  # reports a crash left unsent, once the acceptor runs
                elif self._outbox_on_disk and not self._outbox:
                    self._write()  # the last reports went out: clear them from the file
                self._maybe_drop()
            self._write()
        finally:
            connection.close()

    def _batch_limit(self) -> int:
        if self.cfg.drop_after:
            return max(1, min(BATCH, self.cfg.drop_after - self._received))
        return BATCH

    def _load(self) -> None:
        path = self.cfg.book_path
        if path.exists():
            data = json.loads(path.read_text())
            self.book.load_json(data)
            self._outbox = [(Report.from_json(r), True) for r in data.get("outbox", [])]
            log.info("fix_venue.book_loaded", path=str(path), orders=len(self.book.orders), resend=len(self._outbox))
        else:
            self.book.tick()

    def _event(self, ev) -> list[Report]:
        kind = ev[0]
        if kind == "logon":
            self._received, self._dropped = 0, False
            log.info("fix_venue.logon", session=ev[1])
            if self._outbox:
                self._send_outbox()
            return []
        if kind == "logout":
            log.info("fix_venue.logout", session=ev[1])
            if self.cfg.cancel_on_disconnect:
                reports = self._guarded(self.book.session_down, ev[1])
                if reports:
                    log.info("fix_venue.cancel_on_disconnect", session=ev[1], cancelled=len(reports))
                return reports
            return []
        req: Request = ev[1]
        self._received += 1
        delay = self.cfg.ack_delay_ms if req.msg_type in t.ORDER_MESSAGES else (
            self.cfg.query_delay_ms if req.msg_type in t.QUERY_MESSAGES else 0)
        if delay:
            heapq.heappush(self._delayed, (time.monotonic() + delay / 1000.0, next(self._seq), req))
            return []
        return self._apply(req)

    def _apply(self, req: Request) -> list[Report]:
        try:
            return self.book.handle(req)
        except Exception as exc:  # noqa: BLE001 - a bad message is refused, never a crash of the venue
            log.exception("fix_venue.request_failed", msg_type=req.msg_type, seq=req.seq)
            close_old_connections()  # a database error leaves the connection unusable: the next read opens a new one
            return [self.book.business_reject(req, f"venue could not process the message: {exc}")]

    def _guarded(self, fn, *args) -> list[Report]:
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("fix_venue.book_failed", step=getattr(fn, "__name__", "?"))
            close_old_connections()
            return []

    def _commit(self, reports: list[Report]) -> None:
        """Write the book with the reports about to go out, then send them."""
        self._outbox += [(r, False) for r in reports]
        self._write()
        self._send_outbox()

    def _write(self) -> None:
        write_atomic(self.cfg.book_path, self.book.dumps(outbox=[r.to_json() for r, _ in self._outbox]))
        self._outbox_on_disk = bool(self._outbox)

    def _send_outbox(self) -> None:
        sent = 0
        for report, resent in self._outbox:
            try:
                fix.Session.sendToTarget(to_message(report, poss_resend=resent), self.session_id)
                if self.cfg.duplicate_reports and report.msg_type == t.EXECUTION_REPORT:
                    self.app.marking.poss_dup = True
                    try:
                        fix.Session.sendToTarget(to_message(report), self.session_id)
                    finally:
                        self.app.marking.poss_dup = False
            except fix.SessionNotFound:
                break  # no acceptor yet (reports from loading the book): they go out once it runs
            sent += 1
        del self._outbox[:sent]

    def _maybe_drop(self) -> None:
        n = self.cfg.drop_after
        if n and not self._dropped and self._received >= n:
            self._dropped = True
            session = fix.Session.lookupSession(self.session_id)
            if session is not None:
                log.info("fix_venue.drop", session=self.session_key, after=self._received)
                session.disconnect()
