"""The FIX gateway: one QuickFIX ``SocketInitiator`` with a session per enabled FIX venue (``manage.py fix_gateway``).

Threads. QuickFIX calls back on its own C++ threads; every callback is handed to one queue that
ONE thread - the gateway's main thread - drains, and only that thread talks to the ORM. A report
(``fromApp``) is first appended to the session's ``Journal`` (flushed to the kernel), then queued:
QuickFIX moves the session's incoming sequence number on only when the callback returns, so a
report is either in the journal or will be resent by the venue. The ORM thread applies the queued
reports many to a transaction, recording in the same transaction how far each journal is applied;
at start the gateway applies what a killed predecessor journalled but never applied. Repeats are
harmless: a report is applied once per (venue, ExecID). A callback never raises anything but
QuickFIX's own rejections (anything else would end the process: the binding calls ``Py_Exit``).

Commands. The venue clients write the outbox and publish on ``services.WAKE_CHANNEL`` after commit;
a listener thread turns that into a queue item, and the main thread claims what is pending
(cancels first), marks it sent, and sends it. A safety sweep every ``DESK_FIX_OUTBOX_SWEEP_S``
catches a wake-up lost with Redis. On every logon the commands sent and never answered are sent
again with PossResend=Y and the same ClOrdID, then an OrderStatusRequest settles each.

Reconciliation (``recon_gateway``). On every logon, after those re-sends, a run asks the venue for its
open orders and positions; the answers (8/I with MassStatusReqID, AO, AP) go to the run, not the report
path. Until it finishes the venue's new orders wait in the outbox and the router does not use the venue.
The beat and the Reconciliation page's button ask for a run over the wake channel ("reconcile").

Sessions. FileStore and FileLog under ``DESK_FIX_DIR``; ResetOnLogon=N, PersistMessages=Y, a
non-stop session (sequence numbers go back only by an admin's ``fix_sequence_reset``). A
SocketInitiator's sessions are fixed at start, so an edit of the venues' session settings (seen
by their fingerprint, or announced by ``fix_sessions_reload``) restarts it, recorded on each
``FixSession.loaded_at``. A session down longer than ``DESK_FIX_SESSION_DOWN_ALERT_S`` raises an alert.

Latency. An order's way to its ack is a few database round trips (the claim; the report's batch), each a
statement (``prepare_statements``: planned once, if asked). ``DESK_FIX_TRACE=<file>`` notes when each order
passed each stage and writes it there at stop (``fix_app.trace``; the FIX bench prints the breakdown).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import quickfix as fix
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from desk.events import push_in_background
from fix_app import inbound, mapping, reconcile_core, services, trace
from fix_app.models import FixCommand, ReconciliationBreak, ReconciliationRun
from fix_app.recon_gateway import Reconciler, account_of
from orders_app.models import Venue

log = logging.getLogger("desk.fix.gateway")

CLAIM = 200  # commands claimed per transaction
QUIET_S = 0.003  # the queue quiet this long after sends: the venue's answers are in, the bookkeeping goes
AFTER_SENDS_S = 0.05  # the bookkeeping after sends waits at most this long


def _setting(name: str, default):
    return getattr(settings, name, default)


def store_dir() -> Path:
    return Path(_setting("DESK_FIX_DIR", Path(settings.BASE_DIR) / "var" / "fix" / "gateway"))


def data_dictionary() -> str:
    return str(_setting("DESK_FIX_DATA_DICTIONARY", "") or Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml")


def session_config(venues: list[Venue], *, directory: Path, dictionary: str, reconnect_s: int) -> str:
    """The initiator's settings file: one session per venue."""
    lines = [
        "[DEFAULT]", "ConnectionType=initiator", f"ReconnectInterval={reconnect_s}",
        f"FileStorePath={directory / 'store'}", f"FileLogPath={directory / 'log'}",
        "NonStopSession=Y", "UseDataDictionary=Y", f"DataDictionary={dictionary}",
        "ResetOnLogon=N", "ResetOnLogout=N", "ResetOnDisconnect=N", "PersistMessages=Y",
        "LogonTimeout=5", "LogoutTimeout=2", "SocketNodelay=Y", "ValidateUserDefinedFields=N", "",
    ]
    for v in venues:
        lines += [
            "[SESSION]", f"BeginString={v.fix_begin_string}", f"SenderCompID={v.fix_sender_comp_id}",
            f"TargetCompID={v.fix_target_comp_id}", f"SocketConnectHost={v.fix_host}", f"SocketConnectPort={v.fix_port}",
            f"HeartBtInt={v.fix_heartbeat_s}", "",
        ]
    return "\n".join(lines)


class Journal:
    """One session's reports as received, one JSON line each, appended and flushed before the callback returns."""

    def __init__(self, directory: Path, venue_id: int, gen: int):
        self.gen = gen
        self.path = journal_path(directory, venue_id, gen)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "ab")  # noqa: SIM115 - closed with the session
        self._lock = threading.Lock()

    def append(self, raw: str) -> int:
        """Write one report; the offset just past it."""
        line = (json.dumps(raw) + "\n").encode()
        with self._lock:
            self._f.write(line)
            self._f.flush()
            return self._f.tell()

    def close(self) -> None:
        with self._lock:
            self._f.close()

    @staticmethod
    def unapplied(path: Path, offset: int) -> list[tuple[str, int]]:
        """(raw report, offset past it) from ``offset`` on; a torn last line (killed mid-write) is left out."""
        if not path.exists():
            return []
        out = []
        with open(path, "rb") as f:
            f.seek(offset)
            pos = offset
            for line in f:
                pos += len(line)
                if not line.endswith(b"\n"):
                    break
                out.append((json.loads(line), pos))
        return out


def journal_path(directory: Path, venue_id: int, gen: int) -> Path:
    return directory / "journal" / f"venue{venue_id}-{gen}.jsonl"


class _App(fix.Application):
    """QuickFIX's callbacks: each one only hands its message to the gateway's queue."""

    def __init__(self, gateway: "Gateway"):
        super().__init__()
        self.gw = gateway

    def onCreate(self, sessionID):  # noqa: N802 - QuickFIX's names
        return None

    def onLogon(self, sessionID):  # noqa: N802
        self.gw.put(("logon", sessionID.toString()))

    def onLogout(self, sessionID):  # noqa: N802
        self.gw.put(("logout", sessionID.toString()))

    def toAdmin(self, message, sessionID):  # noqa: N802
        return None

    def fromAdmin(self, message, sessionID):  # noqa: N802
        try:
            f = mapping.fields_of(message.toString())
            if f.get(mapping.MSG_TYPE) == "3":  # a session-level Reject of one of our messages
                self.gw.put(("refused", sessionID.toString(), int(f.get(45) or 0), f.get(mapping.TEXT, "")))
            elif f.get(mapping.MSG_TYPE) == "5" and f.get(mapping.TEXT):
                self.gw.put(("error", sessionID.toString(), f"logout: {f[mapping.TEXT]}"))
        except Exception:  # never into QuickFIX: the binding would end the process
            log.exception("fromAdmin")

    def toApp(self, message, sessionID):  # noqa: N802
        # Called on the sending thread, inside the send: the sequence number this command went out with.
        try:
            self.gw.last_sent_seq = int(message.getHeader().getField(34))
        except Exception:
            log.exception("toApp")

    def fromApp(self, message, sessionID):  # noqa: N802
        tag = self.gw.receive(message, sessionID)
        if tag is not None:
            raise fix.IncorrectTagValue(tag)


class Gateway:
    def __init__(self, *, directory: Path | None = None, tick_s: float = 0.5):
        self.directory = directory or store_dir()
        self.events: queue.Queue = queue.Queue()
        self.tick_s = tick_s
        self.stopping = threading.Event()
        self.app = _App(self)
        self.initiator = None
        self.sessions: dict[str, Venue] = {}  # SessionID string -> venue
        self.session_ids: dict[int, fix.SessionID] = {}  # venue id -> SessionID
        self.logged_on: set[int] = set()
        self.digest = ""
        self.last_sent_seq = 0
        self.journals: dict[str, Journal] = {}  # SessionID string -> its journal
        self._sent: list[tuple[int, int]] = []  # (command id, MsgSeqNum) not yet recorded
        self._after_due = 0.0  # when the bookkeeping after sends is due at the latest (0: none waiting)
        self._claim_again = False
        self._applied: dict[int, tuple[int, int]] = {}  # journal offsets applied, not yet recorded
        self._offsets_due = 0.0
        self.memory = inbound.Memory()
        self.recon = Reconciler(self._send_fields)
        self._next = {"sweep": 0.0, "settings": 0.0, "down": 0.0, "seq": 0.0}
        self.trace = trace.from_env()  # None unless the bench asks (DESK_FIX_TRACE)
        self._wake_heard = 0.0  # when the wake-up that asked for the next drain was heard (tracing only)

    # -- from QuickFIX threads

    def put(self, item: tuple) -> None:
        self.events.put(item)

    def receive(self, message, sessionID) -> int | None:
        """``fromApp`` on a QuickFIX thread: parse, journal, queue; the tag to reject at session level, if any."""
        try:
            raw = message.toString()
            f = mapping.fields_of(raw)
            key = sessionID.toString()
            if f.get(mapping.MSG_TYPE) == "j":  # BusinessMessageReject of one of our messages
                self.put(("refused", key, int(f.get(45) or 0), f.get(mapping.TEXT, "")))
                return None
            if reconcile_core.is_answer(f):  # to the reconciliation run, in order behind the reports before it
                self.put(("recon", key, f))
                return None
            try:
                report = mapping.parse_report(f)
            except mapping.BadMessage as exc:
                self.put(("malformed", key, str(exc), raw))
                return exc.tag or mapping.MSG_TYPE
            if self.trace is not None:
                self.trace.mark(report.cl_ord_id or report.orig_cl_ord_id, "answered")
            journal = self.journals.get(key)
            end = journal.append(raw) if journal is not None else 0
            self.put(("report", key, report, end))
            return None
        except Exception:
            log.exception("fromApp")
            return None

    # -- the ORM thread

    def run(self) -> None:
        self._listener = threading.Thread(target=self._listen, name="fix-wake", daemon=True)
        self._listener.start()
        self.load()
        while not self.stopping.is_set():
            # Right after sends the venue's answers are due: wait for them a moment before the bookkeeping.
            timeout = min(self.tick_s, QUIET_S) if self._after_due else self.tick_s
            try:
                first = self.events.get(timeout=timeout)
            except queue.Empty:
                first = None
            batch = [first] if first is not None else []
            while True:
                try:
                    batch.append(self.events.get_nowait())
                except queue.Empty:
                    break
            if self.trace is not None:
                self._trace_taken(batch)
            wake = False  # a wake-up that names no command: the whole outbox is drained
            news: list[int] = []  # the new orders wake-ups named
            reports: list[tuple] = []
            for item in batch:
                if item[0] == "report":
                    reports.append(item)
                    continue
                if reports:
                    self._reports(reports)
                    reports = []
                if item[0] == "wake":
                    if not (wake or news) and self.trace is not None and len(item) > 1:
                        self._wake_heard = item[1]
                    if len(item) > 2 and item[2]:
                        news.extend(item[2])
                    else:
                        wake = True
                else:
                    self._guarded(self.handle, item)
            if reports:
                self._reports(reports)
            if wake:
                self._guarded(self.drain)
            elif news:
                self._guarded(self.drain_new, news)
            if self._after_due and (first is None or time.monotonic() >= self._after_due):
                self._guarded(self._after_sends)
            self._guarded(self.housekeeping)
        self.unload()
        if self.trace is not None:
            self.trace.dump()

    def _trace_taken(self, batch: list[tuple]) -> None:
        now = time.monotonic()
        for item in batch:
            if item[0] == "report":
                self.trace.mark(item[2].cl_ord_id or item[2].orig_cl_ord_id, "taken", now)

    def stop(self, *_args) -> None:
        self.stopping.set()

    def _guarded(self, fn, *args):
        """Run one step on the ORM thread; a database outage is waited out, a bug is logged, never the end."""
        delay = 0.2
        while True:
            try:
                return fn(*args)
            except (OperationalError, InterfaceError):
                log.warning("database unavailable; retrying", exc_info=True)
                connection.close()
                if self.stopping.is_set():
                    return None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("gateway step failed: %s", getattr(fn, "__name__", fn))
                close_old_connections()
                return None

    def handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "logon":
            self._logon(item[1])
        elif kind == "logout":
            venue = self.sessions.get(item[1])
            if venue is not None:
                self.logged_on.discard(venue.pk)
                self.recon.session_lost(venue)
                sender, target = self._seqs(venue)
                services.session_logged_out(venue=venue, sender=sender, target=target)
        elif kind == "refused":
            self._flush_sent()  # the MsgSeqNum it names
            venue = self.sessions.get(item[1])
            if venue is not None and item[2]:
                inbound.session_reject_receive(venue=venue, ref_seq_num=item[2], text=item[3])
        elif kind == "malformed":
            venue = self.sessions.get(item[1])
            if venue is not None:
                inbound.malformed_receive(venue=venue, why=item[2], raw=item[3])
        elif kind == "error":
            venue = self.sessions.get(item[1])
            if venue is not None:
                services.session_error(venue=venue, error=item[2])
        elif kind == "recon":
            venue = self.sessions.get(item[1])
            if venue is not None and self.recon.collect(venue, item[2]):
                self.drain()  # the new orders the run held
        elif kind == "reconcile":
            data = item[1] if len(item) > 1 and isinstance(item[1], dict) else {}
            venue = next((v for v in self.sessions.values() if v.pk == data.get("venue")), None)
            self.recon.request(venue, data.get("run"), venue is not None and venue.pk in self.logged_on)
        elif kind == "reload":
            self.reload()
        elif kind == "reset":
            self.apply_resets()

    def _db(self, fn):
        """``fn()``, waiting out a database outage (a report is never dropped for one)."""
        delay = 0.2
        while True:
            try:
                return fn()
            except (OperationalError, InterfaceError):
                log.warning("database unavailable; retrying", exc_info=True)
                connection.close()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _reports(self, items: list[tuple], *, answer: bool = True) -> None:
        """Apply queued reports ("report", session key, report, journal offset) many to a transaction, with
        how far each journal is applied; then send the DontKnowTrades due. A bug is a break, never the end."""
        rows = [(self.sessions[key], report, key, end) for _, key, report, end in items if key in self.sessions]
        if not rows:
            return
        offsets: dict[int, tuple[int, int]] = {}
        for venue, _, key, end in rows:
            journal = self.journals.get(key)
            if journal is not None and end:
                offsets[venue.pk] = (journal.gen, end)

        due = time.monotonic() >= self._offsets_due

        def also() -> None:
            # How far the journals are applied, with what it applied, at most once a second: a report applied
            # again after a crash (from an older offset) finds its ExecID and changes nothing.
            services.journal_applied(offsets=offsets)

        pairs = [(venue, report) for venue, report, _, _ in rows]
        work = also if due else None
        if self.trace is not None:
            work = self._traced_also(pairs, work)
        try:
            answers = self._db(lambda: inbound.reports_receive(items=pairs, memory=self.memory, also=work))
        except Exception:
            log.exception("applying a batch of reports failed; one at a time")
            close_old_connections()
            answers = [self._db(lambda v=v, r=r: self._one(v, r)) for v, r in pairs]
            due = True
            self._db(lambda: transaction.atomic()(also)())
        if self.trace is not None:
            now = time.monotonic()
            for _, report in pairs:
                self.trace.mark(report.cl_ord_id or report.orig_cl_ord_id, "committed", now)
        self._applied.update(offsets)
        if due:
            self._applied = {}
            self._offsets_due = time.monotonic() + 1.0
        if not answer:
            return
        for (venue, report, key, _), a in zip(rows, answers):
            if a.dont_know:
                msg_type, body = mapping.dont_know_trade(report, a.dont_know)
                try:
                    fix.Session.sendToTarget(_message(msg_type, [], body), self.session_ids[venue.pk])
                except fix.SessionNotFound:
                    pass

    def _traced_also(self, pairs, also):
        def traced() -> None:
            now = time.monotonic()
            for _, report in pairs:
                self.trace.mark(report.cl_ord_id or report.orig_cl_ord_id, "applied", now)
            if also is not None:
                also()
        return traced

    def _one(self, venue: Venue, report: mapping.Report) -> inbound.Answer:
        try:
            return inbound.report_receive(venue=venue, report=report, memory=self.memory)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:  # a report the desk cannot hold: a break
            log.exception("applying a report failed")
            close_old_connections()
            with transaction.atomic():
                services.break_record(venue=venue, kind=ReconciliationBreak.Kind.IMPOSSIBLE,
                                      detail={"why": f"could not apply: {exc!r}"[:500], **report.as_detail()})
            return inbound.Answer("break")

    def _replay_journals(self, venues: list[Venue]) -> None:
        """Apply what a killed predecessor journalled but never applied; then start a new journal per session."""
        for v in venues:
            s = services.session_get(venue=v)
            pending = Journal.unapplied(journal_path(self.directory, v.pk, s.journal_gen), s.journal_offset)
            key = fix.SessionID(v.fix_begin_string, v.fix_sender_comp_id, v.fix_target_comp_id).toString()
            if pending:
                log.warning("fix.journal_replay", extra={"venue": v.code, "reports": len(pending)})
                old = Journal(self.directory, v.pk, s.journal_gen)
                self.journals[key] = old
                for k in range(0, len(pending), 200):
                    chunk = pending[k:k + 200]
                    items = []
                    for raw, end in chunk:
                        try:
                            items.append(("report", key, mapping.parse_report(mapping.fields_of(raw)), end))
                        except mapping.BadMessage:
                            continue
                    self._reports(items, answer=False)
                old.close()
            gen = s.journal_gen + 1
            self.journals[key] = Journal(self.directory, v.pk, gen)
            self._db(lambda v=v, gen=gen: services.journal_applied(offsets={v.pk: (gen, 0)}))
            for stale in (self.directory / "journal").glob(f"venue{v.pk}-*.jsonl"):
                if stale.stem != f"venue{v.pk}-{gen}" and stale.stem != f"venue{v.pk}-{gen - 1}":
                    stale.unlink(missing_ok=True)

    # -- sessions

    def load(self) -> None:
        """Start the initiator with a session per FIX venue, as the Venue rows say now."""
        venues = services.fix_venues()
        self.digest = services.settings_digest(venues)
        self.sessions, self.session_ids, self.logged_on = {}, {}, set()
        if venues:
            self.directory.mkdir(parents=True, exist_ok=True)
            cfg = self.directory / "gateway.cfg"
            cfg.write_text(session_config(venues, directory=self.directory, dictionary=data_dictionary(),
                                          reconnect_s=int(_setting("DESK_FIX_RECONNECT_S", 5))))
            for v in venues:
                sid = fix.SessionID(v.fix_begin_string, v.fix_sender_comp_id, v.fix_target_comp_id)
                self.sessions[sid.toString()] = v
                self.session_ids[v.pk] = sid
            self._replay_journals(venues)
            fix_settings = fix.SessionSettings(str(cfg))
            self.initiator = fix.SocketInitiator(self.app, fix.FileStoreFactory(fix_settings), fix_settings,
                                                 fix.FileLogFactory(fix_settings))
            self.initiator.start()
        services.sessions_loaded(venues=venues, digest=self.digest)
        self.recon.reset()
        log.info("fix.sessions_loaded", extra={"venues": [v.code for v in venues]})
        self.apply_resets()

    def unload(self) -> None:
        """Stop the initiator (logging out), still serving the callbacks it waits on meanwhile."""
        if self.initiator is None:
            return
        initiator, self.initiator = self.initiator, None
        t = threading.Thread(target=initiator.stop, name="fix-stop", daemon=True)
        t.start()
        deadline = time.monotonic() + 20
        while t.is_alive():
            if time.monotonic() > deadline:  # a report that cannot be applied (no database): end as a crash would
                log.error("fix.stop_timeout: exiting with the session's state as it is")
                os._exit(1)
            try:
                item = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if item[0] == "report":
                self._reports([item])
            elif item[0] in ("logout", "refused", "malformed", "error"):
                self._guarded(self.handle, item)
        for venue in self.sessions.values():
            sender, target = self._seqs(venue)
            self._guarded(lambda v=venue, a=sender, b=target: services.session_logged_out(venue=v, sender=a, target=b))
        del initiator
        gc.collect()  # the sessions die with the initiator; a new one may register the same ids
        self._guarded(self._flush_sent)
        for journal in self.journals.values():
            journal.close()
        self.journals = {}
        if self._applied:
            applied, self._applied = self._applied, {}
            self._guarded(lambda: services.journal_applied(offsets=applied))

    def reload(self) -> None:
        self.unload()
        self.load()

    def _seqs(self, venue: Venue) -> tuple[int | None, int | None]:
        sid = self.session_ids.get(venue.pk)
        session = fix.Session.lookupSession(sid) if sid is not None else None
        if session is None:
            return None, None
        return session.getExpectedSenderNum(), session.getExpectedTargetNum()

    def _logon(self, key: str) -> None:
        """Logged on: record it, re-send what the venue never answered (PossResend=Y), ask the status of each, send the rest."""
        venue = self.sessions.get(key)
        if venue is None:
            return
        sender, target = self._seqs(venue)
        services.session_logged_on(venue=venue, sender=sender, target=target)
        self.logged_on.add(venue.pk)
        unacked = services.commands_unacked(venue_id=venue.pk)
        sent = []
        for cmd in unacked:
            if self.send(cmd, poss_resend=True):
                services.command_resent(cmd)
                sent.append(cmd)
        self._flush_sent()
        with transaction.atomic():
            for cmd in sent:
                if cmd.kind != FixCommand.Kind.STATUS:
                    services.command_create(venue=venue, order=cmd.order, kind=FixCommand.Kind.STATUS, payload=cmd.payload)
        if unacked:
            log.info("fix.resent", extra={"venue": venue.code, "count": len(unacked)})
        # After the re-sends (the venue answers for them first): the venue's new orders wait until it is reconciled.
        self.recon.start(venue, ReconciliationRun.Trigger.LOGON)
        self.drain()

    def send(self, cmd: FixCommand, *, poss_resend: bool = False) -> bool:
        sid = self.session_ids.get(cmd.venue_id)
        if sid is None:
            return False
        msg_type, header, body = mapping.command_fields(cmd.kind, cl_ord_id=cmd.cl_ord_id, payload=cmd.payload, now=timezone.now(),
                                                        poss_resend=poss_resend, account=account_of(cmd.venue))
        try:
            ok = fix.Session.sendToTarget(_message(msg_type, header, body), sid)
        except fix.SessionNotFound:
            return False
        if ok:
            self._sent.append((cmd.pk, self.last_sent_seq))
        return bool(ok)

    def _send_fields(self, venue: Venue, msg_type: str, body: list[tuple[int, str]]) -> bool:
        sid = self.session_ids.get(venue.pk)
        if sid is None:
            return False
        try:
            return bool(fix.Session.sendToTarget(_message(msg_type, [], body), sid))
        except fix.SessionNotFound:
            return False

    def drain(self) -> int:
        """Send every pending command of the sessions logged on, cancels first.

        What is not on the way to the venue waits until the venue's answers have been applied
        (``_after_sends``): the sequence numbers the commands went out with, and - only when the claim
        says one waits - a second claim for a command held back behind a new order this claim sent (a
        cancel right behind its order).
        """
        n = 0
        venues = {v.pk: v for v in self.sessions.values()}
        while self.logged_on:
            t0 = time.monotonic() if self.trace is not None else 0.0
            cmds = services.commands_claim(venue_ids=self.logged_on, limit=CLAIM, hold_new=self.recon.held(), venues=venues)
            if self.trace is not None:
                self._trace_claimed(cmds, t0)
            self._send_claimed(cmds)
            n += len(cmds)
            if len(cmds) < CLAIM:
                if getattr(cmds, "held_back", True) and any(c.kind == FixCommand.Kind.NEW for c in cmds):
                    self._claim_again = True  # a command waits behind a new order this claim sent
                break
        if (self._sent or self._claim_again) and not self._after_due:
            self._after_due = time.monotonic() + AFTER_SENDS_S
        return n

    def drain_new(self, ids: list[int]) -> int:
        """Send the new orders ``ids`` that wake-ups named (each claimed first, as ``drain`` claims): a new order waits
        behind no other command, so only they are read. Those of a venue not logged on, or being reconciled, stay
        in the outbox for ``drain``."""
        held = set(self.recon.held())
        venue_ids = [v for v in self.logged_on if v not in held]
        t0 = time.monotonic() if self.trace is not None else 0.0
        cmds = services.commands_claim_new(ids=ids, venue_ids=venue_ids, venues={v.pk: v for v in self.sessions.values()})
        if self.trace is not None:
            self._trace_claimed(cmds, t0)
        self._send_claimed(cmds)
        if self._sent and not self._after_due:
            self._after_due = time.monotonic() + AFTER_SENDS_S
        return len(cmds)

    def _send_claimed(self, cmds: list[FixCommand]) -> None:
        for cmd in cmds:
            self.memory.links[(cmd.venue_id, cmd.cl_ord_id)] = inbound.Link(
                cmd.order_id, cmd.order.portfolio_id, cmd.order.parent_id, cmd.order.client_order_id, cmd.payload["symbol"],
                cmd.payload["side"])
            self.send(cmd)
            if self.trace is not None:
                self.trace.mark(cmd.cl_ord_id, "sent")

    def _trace_claimed(self, cmds: list[FixCommand], t0: float) -> None:
        now = time.monotonic()
        for cmd in cmds:
            if self._wake_heard:
                self.trace.mark(cmd.cl_ord_id, "wake_heard", self._wake_heard)
            self.trace.mark(cmd.cl_ord_id, "drained", t0)
            self.trace.mark(cmd.cl_ord_id, "claimed", now)
        if cmds:
            self._wake_heard = 0.0

    def _after_sends(self) -> None:
        """The bookkeeping ``drain`` left: once the queue is quiet, or ``AFTER_SENDS_S`` after the sends at the latest."""
        self._after_due = 0.0
        self._flush_sent()
        if self._claim_again:
            self._claim_again = False
            self.drain()

    def _flush_sent(self) -> None:
        sent, self._sent = self._sent, []
        services.commands_sent_as(sent)

    def apply_resets(self) -> None:
        for reset in services.sequence_resets_pending():
            sid = self.session_ids.get(reset.venue_id)
            session = fix.Session.lookupSession(sid) if sid is not None else None
            if session is None:
                continue  # not a session of this gateway (disabled): applied when it is loaded
            before = {"sender": session.getExpectedSenderNum(), "target": session.getExpectedTargetNum()}
            session.setNextSenderMsgSeqNum(reset.next_sender_seq)
            session.setNextTargetMsgSeqNum(reset.next_target_seq)
            services.sequence_reset_applied(reset, before=before)
            services.session_seq_update(venue=reset.venue, sender=reset.next_sender_seq, target=reset.next_target_seq)
            log.warning("fix.sequence_reset", extra={"venue": reset.venue.code, "before": before, "by": reset.actor_id})

    def housekeeping(self) -> None:
        now = time.monotonic()
        self.recon.tick()
        if self._applied and now >= self._offsets_due:
            applied, self._applied = self._applied, {}
            services.journal_applied(offsets=applied)
            self._offsets_due = now + 1.0
        if now >= self._next["sweep"]:
            self._next["sweep"] = now + float(_setting("DESK_FIX_OUTBOX_SWEEP_S", 5.0))
            self.drain()
        if now >= self._next["seq"]:
            self._next["seq"] = now + 2.0
            for venue in self.sessions.values():
                sender, target = self._seqs(venue)
                services.session_seq_update(venue=venue, sender=sender, target=target)
        if now >= self._next["down"]:
            self._next["down"] = now + 1.0
            services.sessions_check_down()
        if now >= self._next["settings"]:
            self._next["settings"] = now + float(_setting("DESK_FIX_SETTINGS_CHECK_S", 3.0))
            if services.settings_digest(services.fix_venues()) != self.digest:
                log.warning("fix.settings_changed: reloading the sessions")
                self.reload()

    # -- the wake-up listener (its own thread; no ORM)

    def _listen(self) -> None:
        import redis

        while not self.stopping.is_set():
            try:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=30)
                ps = client.pubsub(ignore_subscribe_messages=True)
                ps.subscribe(services.WAKE_CHANNEL)
                self.put(("wake",))  # anything published while we were not listening
                while not self.stopping.is_set():
                    m = ps.get_message(timeout=1.0)
                    if m is None:
                        continue
                    try:
                        data = json.loads(m["data"])
                    except (TypeError, ValueError):
                        continue
                    kind = data.get("kind")
                    self.put(("wake", time.monotonic(), data.get("new")) if kind == "outbox" else (kind, data))
            except Exception:
                log.warning("wake-up channel lost; resubscribing", exc_info=True)
                time.sleep(1.0)


def _message(msg_type: str, header: list[tuple[int, str]], body: list[tuple[int, str]]) -> fix.Message:
    msg = fix.Message()
    h = msg.getHeader()
    h.setField(mapping.MSG_TYPE, msg_type)
    for tag, value in header:
        h.setField(tag, value)
    for tag, value in body:
        msg.setField(tag, value)
    return msg


def prepare_statements() -> bool:
    """``DESK_FIX_DB_PREPARE=true`` (off by default), on PostgreSQL: the gateway's connection binds parameters on
    the server and prepares a statement the second time it runs it (psycopg's ``prepare_threshold``), so the
    server plans the claim and the apply's statements once, not per order. It cut the server's CPU per
    acknowledgement in a measurement of its own (2.5 -> 1.3-2.0 ms on a loaded machine), but no gain showed in the
    FIX bench through the noise of that machine: off until one does. Not behind a pooler in transaction mode
    (prepared statements do not survive it). Before the process's first connection; True when on."""
    if connection.vendor != "postgresql" or not _flag("DESK_FIX_DB_PREPARE", False):
        return False
    connection.settings_dict["OPTIONS"].update(server_side_binding=True, prepare_threshold=2)
    connection.close()
    if connection.alias in getattr(connection, "_connection_pools", {}):  # a pool made before has the old options
        connection.close_pool()
    return True


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return bool(_setting(name, default))
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def run_gateway() -> None:
    """The process: until SIGTERM / SIGINT, then log out and stop."""
    # QuickFIX's threads need the GIL for a moment per message: do not make them wait the default 5 ms for it.
    sys.setswitchinterval(0.0005)
    prepare_statements()
    push_in_background()  # the ORM thread applies reports back to back; browsers hear of them from another thread
    gw = Gateway()
    signal.signal(signal.SIGTERM, gw.stop)
    signal.signal(signal.SIGINT, gw.stop)
    log.info("fix.gateway_started", extra={"pid": os.getpid(), "dir": str(gw.directory)})
    gw.run()


__all__ = ["Gateway", "prepare_statements", "run_gateway", "session_config"]
