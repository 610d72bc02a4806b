"""The FIX path: order -> venue ack latency and fills/s through the gateway, each with the
raw QuickFIX round trip measured in the same run as the reference.

Two clocks per order: order -> venue ack stops when the venue's 8/0 is in the gateway's hands (``fromApp``: parsed and
journaled, so a gateway killed then still applies it), as the reference's stops when its initiator's ``fromApp`` has
the 8; order -> ACCEPTED goes on until the desk has applied it and committed.

Reference: a bare QuickFIX initiator (no ORM) against the scripted venue (``tests.fix.stub_acceptor``),
both with FileStore and FileLog as the gateway has: one NewOrderSingle at a time -> ExecutionReport,
and a burst. Desk: the venue client's submit commits the outbox, the gateway process
(``manage.py fix_gateway``) is woken, sends the D, applies the venue's 8/0 to the child (ACCEPTED):
that is one order -> ack. Fills/s: a burst of orders each filled whole by the venue (an 8/0 and an
8/F each), submitted in one transaction, from its commit until every child is FILLED at the desk.

The clock starts at the venue client's submit of an order the risk gate has sealed (loading the child and
sealing it come before), and stops when a small query sees the child ACCEPTED (committed); the submit's
own share is shown. The burst's transaction is timed apart: it is this process's work, not the gateway's.

Goal: order -> venue ack p50 <= 5 ms, >= 200 fills/s.

Stage by stage: the gateway runs with ``DESK_FIX_TRACE`` (``fix_app.trace``) and writes, per ClOrdID, when the
order passed each of its stages; the bench sets its own times beside them (start, commit, published, seen; one
clock, CLOCK_MONOTONIC, for every process) and prints the p50 and p99 of each stage (``STAGES``), also as the
``fix.ack_stage_*`` figures.

    BENCH_FIX_PROFILE=/tmp/gw.pyisession make bench ONLY=fix    # the gateway under pyinstrument
    .venv/bin/pyinstrument --load=/tmp/gw.pyisession             # its profile
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import quickfix as fix
from django.db import connection, transaction
from django.test.utils import override_settings

from fix_app.trace import Trace

from tests.fix.stub_acceptor import StubVenue  # noqa: E402
from tests.live_stack import free_port  # noqa: E402

N_RTT = 300
N_BURST = 400
RAW_BURST = 2000
VENUE = "FIXBENCH"


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class _Raw(fix.Application):
    """A bare initiator: sends D, counts the 8s."""

    def __init__(self):
        super().__init__()
        self.got = 0
        self.cond = threading.Condition()
        self.up = threading.Event()

    def onCreate(self, s):  # noqa: N802
        return None

    def onLogon(self, s):  # noqa: N802
        self.up.set()

    def onLogout(self, s):  # noqa: N802
        return None

    def toAdmin(self, m, s):  # noqa: N802
        return None

    def fromAdmin(self, m, s):  # noqa: N802
        return None

    def toApp(self, m, s):  # noqa: N802
        return None

    def fromApp(self, m, s):  # noqa: N802
        with self.cond:
            self.got += 1
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 60.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.got >= n, timeout):
                raise TimeoutError(f"{self.got}/{n} reports")


def _raw_reference(directory: Path) -> dict:
    from fix_app.gateway import data_dictionary, session_config
    from fix_app.mapping import command_fields
    from django.utils import timezone

    port = free_port()
    stub = StubVenue(port, target="RAW", hold=True).start()
    app = _Raw()

    class V:  # the settings file wants a venue's session fields
        fix_begin_string, fix_sender_comp_id, fix_target_comp_id = "FIX.4.4", "RAW", "VENUE"
        fix_host, fix_port, fix_heartbeat_s = "127.0.0.1", port, 30

    cfg = directory / "raw.cfg"
    cfg.write_text(session_config([V], directory=directory / "raw", dictionary=data_dictionary(), reconnect_s=1))
    s = fix.SessionSettings(str(cfg))
    init = fix.SocketInitiator(app, fix.FileStoreFactory(s), s, fix.FileLogFactory(s))
    init.start()
    sid = fix.SessionID("FIX.4.4", "RAW", "VENUE")
    try:
        app.up.wait(15)
        payload = {"side": "BUY", "symbol": "KO", "quantity": "100", "order_type": "MARKET", "time_in_force": "DAY"}

        def send(i: int) -> None:
            from fix_app.gateway import _message

            mt, h, b = command_fields("new", cl_ord_id=f"raw-{i}", payload=payload, now=timezone.now())
            fix.Session.sendToTarget(_message(mt, h, b), sid)

        rtt = []
        for i in range(N_RTT):
            t0 = time.perf_counter()
            send(i)
            app.wait(i + 1)
            rtt.append((time.perf_counter() - t0) * 1000)
        base = app.got
        t0 = time.perf_counter()
        for i in range(RAW_BURST):
            send(N_RTT + i)
        app.wait(base + RAW_BURST)
        burst = RAW_BURST / (time.perf_counter() - t0)
        return {"p50": _pct(rtt, 50), "p99": _pct(rtt, 99), "per_s": burst}
    finally:
        init.stop(True)
        stub.stop()


def _orders(portfolio, instrument, venue, n: int, tag: str):
    from orders_app import services, states

    out = []
    for i in range(n):
        parent, _ = services.order_create(client_order_id=f"{tag}-{i}", portfolio_id=portfolio.pk, instrument_id=instrument.pk,
                                          side="BUY", quantity=Decimal(10))
        services.order_apply_event(order_id=parent.pk, event=states.SUBMITTED)
        services.order_apply_event(order_id=parent.pk, event=states.ACCEPTED)
        child, _ = services.order_create(client_order_id=f"{tag}-{i}-c", portfolio_id=portfolio.pk, instrument_id=instrument.pk,
                                         side="BUY", quantity=Decimal(10), parent_id=parent.pk, venue_id=venue.pk)
        services.order_apply_event(order_id=child.pk, event=states.SUBMITTED)
        out.append(child)
    return out


def _sealed(child):
    """The child as its venue client receives it, sealed by the risk gate (made before the clock starts)."""
    from desk import riskstamp
    from orders_app.models import Order
    from orders_app.working import execution_order

    child = Order.objects.select_related("instrument", "venue").get(pk=child.pk)
    eo = execution_order(child)
    stamp = riskstamp.sign(client_order_id=eo.client_order_id, side=eo.side, symbol=eo.symbol, quantity=eo.quantity,
                           limit_price=eo.limit_price)
    return execution_order(child, stamp=stamp)


def _submit(client, order) -> float:
    """Submit in a transaction of its own; the moment it committed (before the wake-up is published after it)."""
    committed = []
    with transaction.atomic():
        transaction.on_commit(lambda: committed.append(time.monotonic()))  # the first of the commit's callbacks
        client.submit(order)
    return committed[0]


def _wait_status(cur, table: str, order_id: int, status: str) -> None:
    """Until the order has ``status``: one small statement per look (the scripted venue runs in a process of
    its own, so this loop competes with it and with the gateway only for the cores)."""
    while True:
        cur.execute(f"SELECT 1 FROM {table} WHERE id = %s AND status = %s", [order_id, status])
        if cur.fetchone():
            return
        time.sleep(0.0002)


def _desk(directory: Path) -> dict:
    from fix_app.client import FixVenueClient
    from market_app.clock import clock_from_anchor, anchor_get_or_create, get_clock
    from market_app.models import Instrument
    from orders_app.models import Order, Venue
    from portfolio_app.models import Portfolio
    from tests.fix.gateway_harness import GatewayProcess, wait_for, wait_reconciled

    port = free_port()
    market = clock_from_anchor(anchor_get_or_create())
    stub = StubVenue(port, target="DESKB", hold=True, clock=market.market_now).start()
    Venue.objects.filter(code=VENUE).delete()
    venue = Venue.objects.create(code=VENUE, name="bench FIX venue", kind=Venue.Kind.FIX, fix_sender_comp_id="DESKB",
                                 fix_target_comp_id="VENUE", fix_host="127.0.0.1", fix_port=port, fix_heartbeat_s=30)
    portfolio = Portfolio.objects.create(name=f"bench-fix-{time.time_ns()}", cash=Decimal("1000000000.00"))
    profile = os.environ.get("BENCH_FIX_PROFILE")  # a .pyisession file: the gateway profiled (pyinstrument --load=it)
    traced = directory / "gateway" / "trace.json"  # the gateway's stage times per ClOrdID, written when it stops
    # As deployed: DEBUG off (with it on, Django times and keeps every statement of the gateway's and the submitter's).
    gateway = GatewayProcess(directory / "gateway", profile=Path(profile) if profile else None, DESK_LOG_LEVEL="ERROR",
                             DJANGO_LOG_LEVEL="ERROR", DESK_FIX_TRACE=str(traced), DJANGO_DEBUG="false",
                             DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)).start()
    try:
        stub.wait_logon(60)
        wait_reconciled(venue, 60)  # the logon's reconciliation holds new orders until it finishes
        inst = Instrument.objects.get(symbol="KO")
        client = FixVenueClient(venue=venue, clock=get_clock().market_now)
        children = _orders(portfolio, inst, venue, N_RTT + N_BURST, f"bfx{time.time_ns()}")
        sealed = [_sealed(c) for c in children]
        table = connection.ops.quote_name(Order._meta.db_table)
        acks, submits, mine = [], [], {}
        with connection.cursor() as cur:
            for child, order in zip(children[:N_RTT], sealed[:N_RTT]):
                t0 = time.monotonic()
                committed = _submit(client, order)
                t1 = time.monotonic()
                _wait_status(cur, table, child.pk, "ACCEPTED")
                t2 = time.monotonic()
                acks.append((t2 - t0) * 1000)
                submits.append((t1 - t0) * 1000)
                mine[order.client_order_id] = {"start": t0, "commit": committed, "published": t1, "seen": t2}
        stub.hold = False
        burst = children[N_RTT:]
        t0 = time.perf_counter()
        with transaction.atomic():  # sent at once: the gateway is woken once, with all of them in the outbox
            for order in sealed[N_RTT:]:
                client.submit(order)
        t1 = time.perf_counter()
        ids = [c.pk for c in burst]
        wait_for(lambda: Order.objects.filter(pk__in=ids, status="FILLED").count() == len(ids), 300, every=0.01,
                 what="the burst filled")
        fills = len(ids) / (time.perf_counter() - t1)
        out = {"p50": _pct(acks, 50), "p99": _pct(acks, 99), "fills_s": fills, "submit_s": t1 - t0,
               "submit_p50": _pct(submits, 50)}
    finally:
        gateway.stop()
        stub.stop()
        _cleanup(venue, portfolio)
    theirs = Trace.load(traced)
    out["stages"] = _stages(mine, theirs)
    wire = [(theirs[cl]["answered"] - t["start"]) * 1000 for cl, t in mine.items() if "answered" in theirs.get(cl, {})]
    out["wire_p50"], out["wire_p99"], out["wire_n"] = (_pct(wire, 50), _pct(wire, 99), len(wire)) if wire else (0.0, 0.0, 0)
    return out


# The way of one order to its ack, stage by stage: (name, from, to), each time the bench's (start, commit,
# published, seen) or the gateway's (``fix_app.trace.STAGES``), all on CLOCK_MONOTONIC.
STAGES = [
    ("submit: the venue client's transaction, to its commit", "start", "commit"),
    ("wake-up: publish after commit -> the gateway's listener", "commit", "wake_heard"),
    ("  (of which the publish to Redis, in the submitting process)", "commit", "published"),
    ("hand-off: listener -> the main thread's claim begins", "wake_heard", "drained"),
    ("claim: commands_claim (one statement, committed)", "drained", "claimed"),
    ("send: QuickFIX sendToTarget", "claimed", "sent"),
    ("venue: D out -> 8/0 in fromApp (loopback, the venue)", "sent", "answered"),
    ("hand-off: fromApp (journal, queue) -> the main thread", "answered", "taken"),
    ("apply: the 8/0 applied (reports_receive), before commit", "taken", "applied"),
    ("commit: the apply's transaction commits", "applied", "committed"),
    ("seen: the bench's poll sees ACCEPTED", "committed", "seen"),
]


def _stages(mine: dict, theirs: dict) -> list[tuple[str, float, float, int]]:
    """(stage, p50 ms, p99 ms, samples) for each stage both ends of which are known."""
    out = []
    for name, a, b in STAGES:
        xs = []
        for cl, t in mine.items():
            both = {**theirs.get(cl, {}), **t}
            if a in both and b in both:
                xs.append((both[b] - both[a]) * 1000)
        if xs:
            out.append((name, _pct(xs, 50), _pct(xs, 99), len(xs)))
    return out


def _cleanup(venue, portfolio) -> None:
    from fix_app.models import ClOrdLink, FixCommand, FixExecution, FixSession, ReconciliationBreak, ReconciliationRun
    from orders_app.models import Fill, Order, OrderEvent, Venue
    from portfolio_app.models import Portfolio, Position

    ClOrdLink.objects.filter(venue=venue).delete()
    FixCommand.objects.filter(venue=venue).delete()
    FixExecution.objects.filter(venue=venue).delete()
    ReconciliationBreak.objects.filter(venue=venue).delete()
    ReconciliationRun.objects.filter(venue=venue).delete()
    FixSession.objects.filter(venue=venue).delete()
    Fill.objects.filter(order__portfolio=portfolio).delete()
    OrderEvent.objects.filter(order__portfolio=portfolio).delete()
    Order.objects.filter(portfolio=portfolio, parent__isnull=False).delete()
    Order.objects.filter(portfolio=portfolio).delete()
    Position.objects.filter(portfolio=portfolio).delete()
    Portfolio.objects.filter(pk=portfolio.pk).delete()
    Venue.objects.filter(pk=venue.pk).delete()


def run() -> list[dict]:
    import sys

    directory = Path(tempfile.mkdtemp(prefix="bench-fix-"))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the venue's QuickFIX thread answers without waiting 5 ms for the GIL (as the gateway does)
    try:
        raw = _raw_reference(directory)
        with override_settings(DEBUG=False):  # the submitting side as deployed too (see ``_desk``)
            desk = _desk(directory)
    finally:
        sys.setswitchinterval(interval)
        shutil.rmtree(directory, ignore_errors=True)
    print("\n  order -> ack, stage by stage (p50 / p99 ms, samples):")
    for name, p50, p99, n in desk["stages"]:
        print(f"    {name:<58} {p50:8.3f} {p99:8.3f}  {n}")
    ref = f"raw QuickFIX D->8 round trip, FileStore+FileLog (p50 {raw['p50']:.2f} ms, p99 {raw['p99']:.2f} ms)"
    stages = [{"name": f"fix.ack_stage_{i}_p50", "value": round(p50, 3), "unit": "ms", "note": name}
              for i, (name, p50, _p99, _n) in enumerate(desk["stages"])]
    return [
        {"name": "fix.order_to_venue_ack_p50", "value": round(desk["wire_p50"], 2), "unit": "ms", "goal": "<= 5",
         "ratio": round(desk["wire_p50"] / raw["p50"], 1), "ref": ref,
         "note": f"the venue client's submit of a sealed order (its transaction; p50 {desk['submit_p50']:.2f} ms of it) -> gateway "
                 f"woken -> claimed -> D -> the venue's 8/0 in the gateway, journaled (where the reference's clock stops too); "
                 f"{desk['wire_n']} of {N_RTT} one at a time"},
        {"name": "fix.order_to_venue_ack_p99", "value": round(desk["wire_p99"], 2), "unit": "ms",
         "ratio": round(desk["wire_p99"] / raw["p99"], 1), "ref": ref},
        {"name": "fix.order_to_accepted_p50", "value": round(desk["p50"], 2), "unit": "ms",
         "ratio": round(desk["p50"] / raw["p50"], 1), "ref": ref,
         "note": "as above, on to the 8/0 applied at the desk (ACCEPTED, committed) and seen by a query"},
        {"name": "fix.order_to_accepted_p99", "value": round(desk["p99"], 2), "unit": "ms",
         "ratio": round(desk["p99"] / raw["p99"], 1), "ref": ref},
        {"name": "fix.fills_per_s", "value": round(desk["fills_s"]), "unit": "fills/s", "goal": ">= 200",
         "ratio": round(desk["fills_s"] / raw["per_s"], 3),
         "ref": f"raw QuickFIX burst of {RAW_BURST} D->8 ({raw['per_s']:,.0f}/s)",
         "note": f"{N_BURST} orders submitted in one transaction (it took {desk['submit_s']:.2f} s; the clock starts at its "
                 f"commit), each acked and filled whole (8/0 + 8/F), until FILLED at the desk"},
        *stages,
    ]
