"""``manage.py fix_venue``: the demo's and the tests' FIX venue (docs/fix-venue.md)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from fix_app.venue.config import DEFAULT_PORT, VenueConfig, data_dictionary_path, env, env_bool


class Command(BaseCommand):
    help = "Run a FIX 4.4 venue (QuickFIX acceptor) that matches on the desk's market model."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="listening port (default: the Venue row's, else 9878)")
        parser.add_argument("--sender-comp-id", default=env("SENDER_COMP_ID", "VENUE"))
        parser.add_argument("--target-comp-id", default=env("TARGET_COMP_ID", "DESK"))
        parser.add_argument("--venue-code", default=env("VENUE_CODE"),
                            help="the desk Venue row whose parameters it trades on (default: the FIX venue whose "
                                 "TargetCompID is this SenderCompID)")
        parser.add_argument("--tick-ms", type=int, default=int(env("TICK_MS", "200")), help="wall ms between book steps")
        parser.add_argument("--store-dir", default=env("STORE_DIR"),
                            help="book.json, QuickFIX store and log (default var/fix_venue/<SenderCompID>)")
        parser.add_argument("--data-dictionary", default=None, help="FIX44.xml (default: the quickfix package's)")
        faults = parser.add_argument_group("fault modes")
        faults.add_argument("--reject-share", type=float, default=float(env("REJECT_SHARE", "0") or 0),
                            help="refuse this share of new orders, chosen by a hash of the ClOrdID")
        faults.add_argument("--reject-text", default=env("REJECT_TEXT", ""), help="Text (58) of those refusals")
        faults.add_argument("--drop-after", type=int, default=int(env("DROP_AFTER", "0") or 0),
                            help="drop the connection after N application messages received on it")
        faults.add_argument("--ack-delay-ms", type=int, default=int(env("ACK_DELAY_MS", "0") or 0),
                            help="hold every D, F and G this many ms before acting on it")
        faults.add_argument("--query-delay-ms", type=int, default=int(env("QUERY_DELAY_MS", "0") or 0),
                            help="hold every AF and AN this many ms before answering it")
        faults.add_argument("--duplicate-reports", action="store_true", default=env_bool("DUPLICATE_REPORTS"),
                            help="send every ExecutionReport twice, the second with PossDupFlag=Y")
        faults.add_argument("--cancel-on-disconnect", action="store_true", default=env_bool("CANCEL_ON_DISCONNECT"),
                            help="on logout or disconnect cancel the session's open orders (reported on the next logon)")
        faults.add_argument("--pending-acks", action="store_true", default=env_bool("PENDING_ACKS"),
                            help="send 6 PENDING_CANCEL / E PENDING_REPLACE before 4 CANCELED / 5 REPLACED")

    def handle(self, *args, **o):
        from market_app.clock import get_clock
        from orders_app.models import Venue

        from fix_app.venue.market import DeskMarket, market_now
        from fix_app.venue.server import VenueServer

        sender, target = o["sender_comp_id"], o["target_comp_id"]
        code = o["venue_code"]
        row = None
        if code:
            row = Venue.objects.filter(code=code).first()
            if row is None:
                raise CommandError(f"--venue-code: no Venue row {code!r}")
        else:
            row = Venue.objects.filter(kind=Venue.Kind.FIX, fix_target_comp_id=sender).first()
            if row is None:
                raise CommandError(f"--venue-code: no FIX Venue row with TargetCompID {sender!r}; name one")
        if not 0.0 <= o["reject_share"] <= 1.0:
            raise CommandError("--reject-share: a share between 0 and 1")
        if o["tick_ms"] < 1:
            raise CommandError("--tick-ms: at least 1")
        try:
            dd = data_dictionary_path(o["data_dictionary"])
        except FileNotFoundError as exc:
            raise CommandError(f"--data-dictionary: {exc}") from None
        state_dir = Path(o["store_dir"]) if o["store_dir"] else Path(settings.BASE_DIR) / "var" / "fix_venue" / sender
        cfg = VenueConfig(
            port=o["port"] or row.fix_port or DEFAULT_PORT, sender_comp_id=sender, target_comp_id=target,
            venue_code=row.code, state_dir=state_dir, tick_ms=o["tick_ms"], data_dictionary=dd,
            reject_share=o["reject_share"], reject_text=o["reject_text"], drop_after=o["drop_after"],
            ack_delay_ms=o["ack_delay_ms"], query_delay_ms=o["query_delay_ms"], duplicate_reports=o["duplicate_reports"],
            cancel_on_disconnect=o["cancel_on_disconnect"], pending_acks=o["pending_acks"],
        )
        get_clock()  # the replay anchor, read (or created) before the book thread starts
        connection.close()  # from here on only the book thread uses the database
        server = VenueServer(cfg, loader=DeskMarket(row.code), clock=market_now)
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        server.start()
        self.stdout.write(f"fix_venue {sender}->{target} on port {cfg.port} (venue {row.code}); state in {state_dir}")
        self.stdout.flush()
        try:
            while not done.wait(1.0):
                if not server.thread.is_alive():
                    raise CommandError("the book thread stopped; see the log above")
        finally:
            server.stop()
