"""The FIX gateway as a subprocess against the test database, a scripted venue on loopback, and a
replay clock anchored in the database (the gateway, another process, sees the same market time)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fix.stub_acceptor import StubVenue

from tests.live_stack import BASE_DIR, database_url, free_port

# 2022-03-01: an ordinary session. One wall second is one market second (a 6.5-hour session per 6.5 hours).
MARKET_DAY = date(2022, 3, 1)
FIX_VENUE = "FIXS"


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, *, what: str = "condition", every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class GatewayProcess:
    """``manage.py fix_gateway`` in its own process group (``kill9`` takes it as a crash would)."""

    def __init__(self, directory: Path, *, profile: Path | None = None, **env):
        from django.conf import settings

        self.directory = directory
        self.profile = profile  # a pyinstrument profile of the gateway's ORM thread, written there when it stops
        self.log = directory / "gateway.log"
        self.env = {
            **os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "DESK_FIX_DIR": str(directory),
            "DESK_FIX_RECONNECT_S": "1", "DESK_FIX_SETTINGS_CHECK_S": "1", "DESK_FIX_OUTBOX_SWEEP_S": "2",
            "DJANGO_LOG_LEVEL": "WARNING", "DESK_LOG_LEVEL": "WARNING", **{k: str(v) for k, v in env.items()},
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> "GatewayProcess":
        self.directory.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "a")  # noqa: SIM115 - lives as long as the process
        argv = [sys.executable, "manage.py", "fix_gateway"]
        if self.profile is not None:
            argv[1:1] = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(self.profile)]
        self.proc = subprocess.Popen(argv, env=self.env, cwd=BASE_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def replay_clock(db):
    """The DB-anchored replay clock at about 10:00 New York on MARKET_DAY, moving in real time."""
    from django.utils import timezone

    from market_app.clock import clock_from_anchor, set_clock
    from market_app.marks import clear_cache
    from market_app.models import MarketClockAnchor

    anchor, _ = MarketClockAnchor.objects.update_or_create(
        key="default", defaults={"start_market_date": MARKET_DAY, "seconds_per_session": 23400.0,
                                 "wall_epoch": timezone.now() - timedelta(minutes=30)})
    set_clock(None)
    clear_cache()
    yield clock_from_anchor(anchor)
    set_clock(None)
    clear_cache()


def fix_venue_create(*, port: int, code: str = FIX_VENUE, only: bool = True):
    """A FIX venue the router prefers (tight, deep, free); ``only``: the other venues disabled."""
    from orders_app.models import Venue

    if only:
        Venue.objects.exclude(code=code).update(enabled=False)
    return Venue.objects.create(
        code=code, name="FIX stub venue", kind=Venue.Kind.FIX, fix_sender_comp_id="DESK", fix_target_comp_id="VENUE",
        fix_host="127.0.0.1", fix_port=port, fix_heartbeat_s=1, half_spread_bps=Decimal("0.1"), maker_fee_bps=0,
        taker_fee_bps=0, min_fee=0, latency_ms=Decimal("1"), impact_k=Decimal("0.01"), displayed_share=Decimal("1"),
    )


def place(portfolio, trader, symbol: str = "KO", qty: int = 100, **kw):
    from orders_app.services import order_place

    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=kw.pop("side", "BUY"), quantity=Decimal(qty), **kw)


def work(enqueued) -> list[str]:
    """Run what the services enqueued (routing, working children) in this process, as a worker would."""
    from tests.orders.conftest import drain

    return drain(enqueued)


def work_initialized(parent_id: int) -> list[str]:
    """Work the children the gateway created (a re-route) and enqueued to a worker this test does not run."""
    from orders_app.models import Order
    from orders_app.working import child_work

    return [child_work(child_id=c.pk) for c in Order.objects.filter(parent_id=parent_id, status="INITIALIZED")]


@dataclass
class FixDesk:
    venue: object
    stub: StubVenue
    gateway: GatewayProcess
    portfolio: object
    trader: object
    enqueued: list

    def place(self, symbol="KO", qty=100, **kw):
        order = place(self.portfolio, self.trader, symbol, qty, **kw)
        work(self.enqueued)
        return order

    def child(self, parent):
        from orders_app.models import Order

        return Order.objects.filter(parent=parent).order_by("id").first()

    def status_of(self, order) -> str:
        order.refresh_from_db()
        return order.status

    def wait_status(self, order, *statuses, timeout=20.0) -> None:
        try:
            wait_for(lambda: self.status_of(order) in statuses, timeout, what=f"{order.client_order_id} in {statuses}")
        except AssertionError:
            print(self.gateway.output()[-4000:])
            raise

    def position(self, symbol="KO") -> Decimal:
        from portfolio_app.models import Position

        p = Position.objects.filter(portfolio=self.portfolio, instrument__symbol=symbol).first()
        return p.quantity if p else Decimal(0)


@pytest.fixture
def gateway_env() -> dict:
    """Extra environment of the gateway process (a test module overrides it)."""
    return {}


@pytest.fixture
def fix_desk(demo_small, replay_clock, enqueued, tmp_path, gateway_env):  # noqa: F811
    """The demo desk with one FIX venue (the others disabled), its scripted venue, and the gateway logged on."""
    from django.contrib.auth import get_user_model

    from ops_app import demo
    from portfolio_app.models import Portfolio

    before = other_sessions()
    port = free_port()
    venue = fix_venue_create(port=port)
    stub = StubVenue(port, clock=replay_clock.market_now).start()
    gateway = GatewayProcess(tmp_path / "gateway", **gateway_env).start()
    try:
        stub.wait_logon(60)
    except TimeoutError:
        print(gateway.output())
        gateway.stop()
        stub.stop()
        raise
    wait_reconciled(venue)
    desk = FixDesk(venue, stub, gateway, Portfolio.objects.get(name=demo.DEMO_PORTFOLIO),
                   get_user_model().objects.get(username="trader"), enqueued)
    yield desk
    gateway.kill9()  # the graceful stop is the sessions test's
    desk.stub.stop()
    _wait_other_sessions_gone(before=before)


def wait_reconciled(venue, timeout: float = 30.0, *, after: int = 0):
    """Until a reconciliation run of ``venue`` (with an id above ``after``) has finished and the router uses the venue."""
    from fix_app.models import ReconciliationRun
    from orders_app.models import Venue

    def done():
        run = ReconciliationRun.objects.filter(venue=venue, pk__gt=after).exclude(status="running").order_by("-id").first()
        return run if run is not None and Venue.objects.filter(pk=venue.pk, reconciled=True).exists() else None

    return wait_for(done, timeout, what=f"{venue.code} reconciled")


def other_sessions() -> set[int]:
    """The backend pids of the other sessions on the test database (this process's pool included)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return {r[0] for r in cur.fetchall()}


def _wait_other_sessions_gone(timeout: float = 10.0, *, before: set[int] | None = None) -> None:
    """A killed gateway's database session ends a moment after it: the test database is dropped only once it has.
    ``before``: the sessions there were before the test started its processes (this process's own pooled
    connections among them), which are not waited for."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not other_sessions() - (before or set()):
            return
        time.sleep(0.05)
