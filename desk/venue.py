"""The adapter interface a real broker connects through (DESIGN.md, "Execution environments").

A broker adapter is an ``ExecutionEnvironment`` that works orders over time: it
acknowledges on ``submit`` and reports fills through the ``on_fill`` callback as
the broker sends them. The paper venue (``market_app.paper_venue.PaperVenueClient``:
the matching model ``market_app.matching.paper.PaperExchange`` with its book in the
database) is the reference implementation: a new adapter should pass the same tests.

What an adapter must guarantee to the desk:

- **Idempotent submit.** ``client_order_id`` is the idempotency key: a second
  ``submit`` with the same id (a redelivered Celery task) returns the order's
  current state and sends nothing to the broker.
- **Stable trade ids.** Every ``FillReport.trade_id`` is unique and the same on
  every report of the same execution (use the broker's execution id), so the
  desk records a fill once however often it is reported.
- **Fills carry the broker's numbers**: ``last_qty`` in whole shares, ``last_px``
  as a ``Decimal`` price, ``commission`` as a ``Decimal`` to the cent, and
  ``ts_event`` timezone-aware UTC.
- **Reasons a person can read** on every REJECTED or CANCELED result.
- **No market time of its own**: the adapter is given the desk's clock and
  never calls ``datetime.now()`` for market time.
- **No order around the risk gate** (SEC 15c3-5): a new order or a replace is refused unless it
  carries the gate's seal for exactly that quantity and price (``desk.riskstamp.unchecked`` /
  ``unchecked_replace``); cancels always go through.
- **Reconciliation after a reconnect**: ``open_orders`` and ``fills_since`` let
  the desk replay what it missed; re-reporting a fill is harmless (stable ids).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from desk.interfaces import ExecutionEnvironment, ExecutionOrder, FillReport, OrderStatus, TradeResult

FillCallback = Callable[[FillReport], None]

class BrokerAdapter(ExecutionEnvironment):
    """The broker interface. Subclasses talk to one broker; the desk talks only to this."""

    name = "live"

    def connect(self) -> None:
        """Open the session with the broker (log in, subscribe to executions). Default: nothing to do."""

    def disconnect(self) -> None:
        """Close the session; working orders stay at the broker. Default: nothing to do."""

    @abc.abstractmethod
    def submit(self, order: ExecutionOrder, on_fill: FillCallback) -> TradeResult:
        """Send ``order``; return ACCEPTED (or REJECTED with the reason) at once, fills via ``on_fill``.

        Idempotent by ``order.client_order_id``.
        """

    @abc.abstractmethod
    def cancel(self, client_order_id: str) -> TradeResult:
        """Ask the broker to stop working the rest; returns CANCELED with the fills so far, or the
        order's terminal status if it had already finished."""

    @abc.abstractmethod
    def amend(
        self, client_order_id: str, *, quantity: Decimal | None = None, limit_price: Decimal | None = None,
        risk_stamp: str = "",
    ) -> TradeResult:
        """Change the total quantity and/or limit price of a working order (PENDING_UPDATE at the desk).

        A quantity below what has already filled is refused (REJECTED with a reason). A venue client
        refuses a replace without the gate's seal for what the order becomes (``unchecked_replace``).
        """

    @abc.abstractmethod
    def status(self, client_order_id: str) -> TradeResult:
        """The order's current state and every fill so far."""

    @abc.abstractmethod
    def open_orders(self) -> Sequence[TradeResult]:
        """Orders the broker is still working (for reconciliation)."""

    @abc.abstractmethod
    def fills_since(self, ts: datetime) -> Sequence[FillReport]:
        """Every fill with ``ts_event >= ts`` (for reconciliation after a reconnect)."""

    def execute_trade(self, order: ExecutionOrder) -> TradeResult:
        """The one-shot form for a live venue: submit and return the acknowledgement.

        A real broker cannot be waited on inside a call, so fills arrive later through
        ``status`` / ``fills_since``; subclasses that can work an order to the end
        synchronously (the paper exchange) override this.
        """
        return self.submit(order, lambda _fill: None)


TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED, OrderStatus.DENIED}
)
