"""Ports a lower layer calls when the implementation lives in a higher one.

The orders app submits through the pre-trade gate that the risk app implements, and tells
it of released exposure through the exposure listener; the risk app's alerts are delivered by the
ops app's webhooks; the portfolio page shows what the orders app reserves of a portfolio's buying
power.  Neither imports upward:
each calls the port here, and ``config`` wires the implementation by dotted path in
``settings.DESK_PORTS`` (the only place that names both sides).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from desk.interfaces import OrderIntent, RiskVerdict


class PreTradeGate(abc.ABC):
    """Every order command that can add risk passes here: one verdict per intent, in order.

    The caller holds the portfolio row lock (or asks the check to take it: ``lock_portfolio``).  ``order_ids``
    ties each recorded check to its order.  ``new_orders``: the intents are orders the caller stores only after
    the verdicts (one insert at their final status); it then records the checks with ``record``.
    """

    @abc.abstractmethod
    def check(self, *, portfolio_id: int, intents: Sequence[OrderIntent], order_ids: Sequence[int | None] | None = None,
              record: bool = True, alerts: bool = True, wall_clock: bool = True, new_orders: bool = False,
              lock_portfolio: bool = False) -> list[RiskVerdict]:
        ...

    def record(self, *, portfolio_id: int, intents: Sequence[OrderIntent], verdicts: Sequence[RiskVerdict],
               order_ids: Sequence[int]) -> None:
        """Store the verdicts of a ``check(new_orders=True)`` with the orders stored since."""
        raise NotImplementedError

    @abc.abstractmethod
    def check_slice(self, *, portfolio_id: int, intent: OrderIntent, parent_client_order_id: str = "",
                    order_id: int | None = None) -> RiskVerdict:
        """A child slice about to go to its venue: the state and per-order checks only (its parent
        holds its exposure). A passed verdict carries the seal (``stamp``) the venue client asks for.
        The caller holds the portfolio row lock."""


class ExposureListener(abc.ABC):
    """Told, after commit, that a portfolio's committed exposure shrank outside the pre-trade gate: an order's
    unfilled rest was cancelled, expired, rejected or amended (the desk-wide limits' books follow it)."""

    @abc.abstractmethod
    def released(self, *, portfolio_id: int) -> None:
        ...


class Reservations(abc.ABC):
    """What a portfolio's open orders hold back from its buying power (the orders app keeps it per order)."""

    @abc.abstractmethod
    def reserved(self, *, portfolio_id: int) -> Decimal:
        ...


class AlertNotifier(abc.ABC):
    """Told of every alert state change (``raised`` / ``resolved``), inside the transaction that made it."""

    @abc.abstractmethod
    def notify(self, *, alert: Any, state: str, payload: dict) -> None:
        ...


@functools.lru_cache(maxsize=None)
def _resolve(name: str, path: str):
    impl = import_string(path)
    return impl() if isinstance(impl, type) else impl


def port(name: str):
    """The configured implementation of port ``name`` (an instance of the class named in settings)."""
    try:
        path = settings.DESK_PORTS[name]
    except KeyError:
        raise LookupError(f"port {name!r} is not wired: add it to settings.DESK_PORTS") from None
    return _resolve(name, path)


def pretrade_gate() -> PreTradeGate:
    return port("pretrade_gate")


def reservations() -> Reservations:
    return port("reservations")


def alert_notifier() -> AlertNotifier:
    return port("alert_notifier")


def exposure_listener() -> ExposureListener:
    return port("exposure_listener")
