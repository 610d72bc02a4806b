"""Execution environments by configuration (``settings.DESK_EXECUTION_ENVIRONMENT``).

The setting is the dotted path of a factory called as
``factory(*, market, clock, lot_size) -> ExecutionEnvironment``: ``market`` is
the session's ``intraday.SessionMarket``, ``clock`` a callable giving market
time. The order services call ``load_environment`` and never name an
environment; routing reads ``env.quotes(symbol, ts)`` where the environment
offers quotes (the paper exchange does; a broker adapter may).

The paper venue built here is ``market_app.paper_venue.PaperVenueClient``: the
paper exchange's matching with its book in the database (``PaperBookOrder``), so
an order rests at the venue between steps, a cancel or replace from any process
reaches it, and every worker sees the same book. Its trade ids are
``<client_order_id>-<n>``, so a re-run (a redelivered task, the sweeper)
re-reports fills that ``fill_apply`` then ignores. Like every venue client it
refuses a new order or a replace without the risk gate's seal.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils.module_loading import import_string

from market_app.matching.paper import PaperExchange, PaperVenue
from market_app.paper_venue import PaperVenueClient
from desk.interfaces import ConfigError, ExecutionEnvironment, OrderStatus

DEFAULT = "orders_app.venues.paper_environment"


_rows: contextvars.ContextVar[list | None] = contextvars.ContextVar("desk_venue_rows", default=None)


@contextlib.contextmanager
def venues_read_once() -> Iterator[None]:
    """Inside, the ``Venue`` rows are read from the database once (``venue_rows``): one task's view of the venues,
    as if it had read them all when it started (routing, sending and booking the fill then agree on them)."""
    if _rows.get() is not None:
        yield
        return
    token = _rows.set([])
    try:
        yield
    finally:
        _rows.reset(token)


def venue_rows() -> list:
    """Every ``Venue`` row: read now, or once inside ``venues_read_once``."""
    from orders_app.models import Venue

    held = _rows.get()
    if held is None:
        return list(Venue.objects.all())
    if not held:
        held.extend(Venue.objects.all())
    return held


def paper_venues() -> list[PaperVenue]:
    """Every venue by its market parameters, as the router prices it and the paper venue matches;
    a venue being reconciled counts as down (the router does not use it)."""
    return [
        PaperVenue(
            code=v.code,
            half_spread_bps=float(v.half_spread_bps),
            maker_fee_bps=float(v.maker_fee_bps),
            taker_fee_bps=float(v.taker_fee_bps),
            min_fee=v.min_fee,
            latency_ms=float(v.latency_ms),
            impact_k=float(v.impact_k),
            displayed_share=float(v.displayed_share),
            enabled=v.enabled and v.reconciled,
        )
        for v in venue_rows()
    ]


class RejectingPaperExchange(PaperExchange):
    """The paper exchange with venues that refuse every order, each with its reason (a venue
    halted, a symbol suspended): how tests and drills make a venue reject."""

    def __init__(self, venues, *, rejecting: dict[str, str], **kw):
        super().__init__(venues, **kw)
        self.rejecting = dict(rejecting)

    def _accept(self, order, on_fill):
        w = super()._accept(order, on_fill)
        reason = self.rejecting.get(order.venue)
        if reason and w.status is not OrderStatus.REJECTED:
            self._close(w, OrderStatus.REJECTED, reason)
        return w


def paper_environment(*, market, clock: Callable[[], datetime], lot_size: Decimal | int = 1) -> PaperVenueClient:
    """The paper venues over the desk's ``Venue`` rows and the session's replayed market, their book persisted.

    ``settings.DESK_PAPER_REJECTING_VENUES`` (``{venue code: reason}``, default empty) makes
    those venues reject every order with that reason (fault drills and tests).
    """
    rejecting = getattr(settings, "DESK_PAPER_REJECTING_VENUES", None) or {}
    if rejecting:
        return PaperVenueClient(paper_venues(), market=market, clock=clock, lot_size=lot_size,
                                exchange=RejectingPaperExchange, rejecting=rejecting)
    return PaperVenueClient(paper_venues(), market=market, clock=clock, lot_size=lot_size)


@functools.lru_cache(maxsize=4)
def _factory(path: str):
    return import_string(path)


def load_environment(*, market, clock: Callable[[], datetime], lot_size: Decimal | int = 1, venue=None) -> ExecutionEnvironment:
    """The client for ``venue`` by its kind (``settings.DESK_VENUE_CLIENTS``: kind -> factory path); without a
    venue, or for a paper venue, ``settings.DESK_EXECUTION_ENVIRONMENT`` (the paper venue by default).

    A client that reports by push (a FIX session) answers ``submit`` with SUBMITTED, ``cancel`` with
    PENDING_CANCEL and ``amend`` with PENDING_UPDATE; its gateway applies the venue's reports later.
    """
    kind = getattr(venue, "kind", "paper") or "paper"
    if kind == "paper":
        path = getattr(settings, "DESK_EXECUTION_ENVIRONMENT", DEFAULT) or DEFAULT
        return _factory(path)(market=market, clock=clock, lot_size=lot_size)
    clients = getattr(settings, "DESK_VENUE_CLIENTS", {}) or {}
    if kind not in clients:
        raise ConfigError(f"venue {venue.code}: no client for kind {kind!r} (settings.DESK_VENUE_CLIENTS)")
    return _factory(clients[kind])(market=market, clock=clock, lot_size=lot_size, venue=venue)
