"""Reconciliation runs inside the FIX gateway, on its ORM thread (``fix_app.gateway``).

A run sends the OrderMassStatusRequest and the RequestForPositions, collects the answers the gateway
routes here (8/I carrying MassStatusReqID 584, AO and AP carrying PosReqID 710: never the normal report
path), and finishes through ``recon_services``. The answers arrive on the session behind every report the
venue sent before them (the resend after a logon first), and the gateway applies those reports before it
hands an answer here; so the desk's side is read when each answer completes and both sides describe the
same moment. While a run is in progress, or after a run timed out, the venue's new orders wait in the
outbox (``held``); cancels, replaces and status requests go at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from fix_app import mapping
from fix_app import recon_selectors as sel
from fix_app import recon_services as rs
from fix_app.models import ReconciliationRun
from fix_app.reconcile_core import Collection, DeskOrder, mass_status_request, positions_request
from market_app.clock import get_clock
from orders_app.models import Venue

log = logging.getLogger("desk.fix.reconcile")

Send = Callable[[Venue, str, list[tuple[int, str]]], bool]


def account_of(venue: Venue) -> str:
    """The desk's account at a venue (Account 1 on its new orders and in RequestForPositions): its SenderCompID."""
    return venue.fix_sender_comp_id


@dataclass
class _InProgress:
    run_id: int
    collection: Collection
    deadline: float
    desk_orders: list[DeskOrder] = field(default_factory=list)
    desk_positions: dict[str, Decimal] = field(default_factory=dict)


class Reconciler:
    """The runs in progress, one per venue at most; every method runs on the gateway's ORM thread."""

    def __init__(self, send: Send, *, timeout_s: float | None = None):
        self.send = send
        self.timeout_s = timeout_s
        self.runs: dict[int, _InProgress] = {}  # venue id -> its run in progress
        self.unreconciled: set[int] = set()  # venues whose last run (since this gateway logged them on) did not finish

    def held(self) -> set[int]:
        """Venues whose new orders wait in the outbox."""
        return self.unreconciled | set(self.runs)

    def reset(self) -> None:
        """The sessions (re)load: nothing is in progress, and what a predecessor left running is failed."""
        self.runs, self.unreconciled = {}, set()
        rs.runs_abandon()

    def start(self, venue: Venue, trigger: str, run_id: int | None = None) -> None:
        if venue.pk in self.runs:
            if run_id is not None:
                rs.reconciliation_fail(run_id=run_id, why=f"run #{self.runs[venue.pk].run_id} was in progress")
            return
        run = rs.reconciliation_start(venue=venue, trigger=trigger, run_id=run_id)
        if run is None:
            return
        if trigger == ReconciliationRun.Trigger.LOGON:
            self.unreconciled.add(venue.pk)
        coll = Collection(mass_req_id=f"RECON-{run.pk}-M", pos_req_id=f"RECON-{run.pk}-P")
        timeout = self.timeout_s if self.timeout_s is not None else rs.timeout_s()
        self.runs[venue.pk] = _InProgress(run.pk, coll, time.monotonic() + timeout)
        af = mass_status_request(coll.mass_req_id)
        an = positions_request(coll.pos_req_id, account=account_of(venue), day=get_clock().market_date(), now=timezone.now())
        if not (self.send(venue, *af) and self.send(venue, *an)):
            self.runs.pop(venue.pk)
            rs.reconciliation_fail(run_id=run.pk, why="the requests could not be sent: the session is not logged on")
            return
        log.info("fix.reconcile_started", extra={"venue": venue.code, "run": run.pk, "trigger": trigger})

    def collect(self, venue: Venue, fields: dict[int, str]) -> bool:
        """One answer; True when it finished a run (the caller sends what the run held)."""
        p = self.runs.get(venue.pk)
        if p is None:
            log.info("fix.reconcile_late_answer", extra={"venue": venue.code, "msg_type": fields.get(mapping.MSG_TYPE)})
            return False
        try:
            part = p.collection.add(fields)
        except mapping.BadMessage as exc:
            self.runs.pop(venue.pk)
            rs.reconciliation_timeout(run_id=p.run_id, why=f"the venue's answer could not be read: {exc}")
            self.unreconciled.add(venue.pk)
            return False
        if part == "orders":
            p.desk_orders = sel.desk_orders_at_venue(venue_id=venue.pk, cl_ord_ids={o.cl_ord_id for o in p.collection.orders})
        elif part == "positions":
            p.desk_positions = sel.desk_positions_at_venue(venue_id=venue.pk)
        if not p.collection.done:
            return False
        self.runs.pop(venue.pk)
        rs.reconciliation_finish(run_id=p.run_id, venue_orders=p.collection.orders, venue_positions=p.collection.positions,
                                 desk_orders=p.desk_orders, desk_positions=p.desk_positions)
        self.unreconciled.discard(venue.pk)
        return True

    def request(self, venue: Venue | None, run_id: int | None, logged_on: bool) -> None:
        """A run asked for over the wake channel (the button, the beat)."""
        if venue is None or not logged_on:
            if run_id is not None:
                rs.reconciliation_fail(run_id=run_id, why="the gateway has no logged-on session to that venue")
            return
        run = ReconciliationRun.objects.filter(pk=run_id).only("trigger").first() if run_id is not None else None
        self.start(venue, run.trigger if run is not None else ReconciliationRun.Trigger.BUTTON, run_id)

    def session_lost(self, venue: Venue) -> None:
        p = self.runs.pop(venue.pk, None)
        if p is not None:
            rs.reconciliation_fail(run_id=p.run_id, why="the session went down during the run")

    def tick(self) -> None:
        now = time.monotonic()
        for venue_id, p in list(self.runs.items()):
            if now < p.deadline:
                continue
            self.runs.pop(venue_id)
            missing = [what for what, done in (("open orders (AF)", p.collection.orders_done),
                                               ("positions (AN)", p.collection.positions_done)) if not done]
            rs.reconciliation_timeout(run_id=p.run_id, why=f"no complete answer for {' and '.join(missing)} within "
                                                            f"{self.timeout_s if self.timeout_s is not None else rs.timeout_s():g} s")
            self.unreconciled.add(venue_id)


__all__ = ["Reconciler", "account_of"]
