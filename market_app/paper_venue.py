"""The paper venue as the desk's venue client: the matching model with its book in the database.

The matching is ``market_app.matching.paper.PaperExchange`` (pure, shared with the FIX venue);
this client keeps each order it accepted in ``PaperBookOrder`` and, on every command, locks that
row, brings the order up to market now, acts, and writes it back. So:

- the book outlives a process and is the same for every worker: a cancel sent by a web process
  stops an order a worker was filling; a replace changes what the next step fills;
- trade ids stay ``<client_order_id>-<n>``: a redelivered step re-reports fills the desk has seen;
- nothing goes to the book without the risk gate's seal for exactly that quantity and price
  (``desk.venue.unchecked``); cancels always go through.

Looking at an order (``status``) works it up to the clock first: the venue fills lazily, whenever
the desk asks, which on a replayed market gives the fills a continuously running venue would have
made by then. Lock order: the caller's order locks come first, then the book row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from desk.bulk import rows_update
from desk.interfaces import ExecutionOrder, FillReport, OrderStatus, TradeResult
from desk.riskstamp import NO_RISK_CHECK, unchecked, unchecked_replace
from desk.venue import TERMINAL, BrokerAdapter, FillCallback
from market_app.matching.paper import PaperExchange, PaperVenue
from market_app.models import PaperBookOrder


def _noop(_fill: FillReport) -> None:
    return None


class PaperVenueClient(BrokerAdapter):
    """The paper venues behind the ``BrokerAdapter`` interface, their book persisted."""

    name = "paper"

    def __init__(self, venues: Iterable[PaperVenue], *, market, clock: Callable[[], datetime], lot_size: int | Decimal = 1,
                 exchange: type[PaperExchange] = PaperExchange, **exchange_kw):
        self._make = lambda: exchange(list(self._venues), market=market, clock=clock, lot_size=lot_size, **exchange_kw)
        self._venues = list(venues)
        self.clock = clock
        self.market = market
        self._quoting = self._make()

    def quotes(self, symbol: str, ts: datetime | None = None):
        return self._quoting.quotes(symbol, ts)

    # -- one order, loaded, worked and stored

    def _load(self, client_order_id: str, on_fill: FillCallback = _noop):
        row = PaperBookOrder.objects.select_for_update().filter(client_order_id=client_order_id).first()
        if row is None:
            return None, None
        ex = self._make()
        ex.restore_order(row.state, on_fill)
        ex.advance(self.clock())
        return ex, row

    @staticmethod
    def _store(ex: PaperExchange, row: PaperBookOrder) -> None:
        state = ex.export_order(row.client_order_id)
        if state != row.state:
            row.state, row.status = state, state["status"]
            row.save(update_fields=["state", "status", "updated_at"])

    @transaction.atomic(savepoint=False)
    def submit(self, order: ExecutionOrder, on_fill: FillCallback = _noop) -> TradeResult:
        """Accept ``order`` into the book (working it at once up to market now); idempotent by id."""
        refused = unchecked(order)
        if refused is not None:
            return refused
        ex, row = self._load(order.client_order_id, on_fill)
        if row is not None:  # a redelivered submit changes nothing
            self._store(ex, row)
            return ex.status(order.client_order_id)
        ex = self._make()
        result = ex.submit(order, on_fill)
        state = ex.export_order(order.client_order_id)
        PaperBookOrder.objects.create(venue=order.venue, client_order_id=order.client_order_id, symbol=order.symbol,
                                      status=state["status"], state=state)
        return result

    @transaction.atomic(savepoint=False)
    def status(self, client_order_id: str) -> TradeResult:
        ex, row = self._load(client_order_id)
        if row is None:
            return TradeResult(client_order_id, OrderStatus.REJECTED, reason="unknown order")
        self._store(ex, row)
        return ex.status(client_order_id)

    @transaction.atomic(savepoint=False)
    def cancel(self, client_order_id: str) -> TradeResult:
        ex, row = self._load(client_order_id)
        if row is None:
            return TradeResult(client_order_id, OrderStatus.REJECTED, reason="unknown order", refused="unknown order")
        result = ex.cancel(client_order_id)
        self._store(ex, row)
        return result

    @transaction.atomic(savepoint=False)
    def cancel_many(self, client_order_ids: Sequence[str]) -> dict[str, TradeResult]:
        """``cancel`` of many orders in two statements: their book rows locked and read at once (by id, so
        two callers lock in the same order), written back at once. Each order is worked up to market now
        on an exchange of its own, exactly as ``cancel`` works it (one order's fills never take liquidity
        from another's), so every answer is the one ``cancel`` gives."""
        rows = {r.client_order_id: r for r in PaperBookOrder.objects.select_for_update()
                .filter(client_order_id__in=list(client_order_ids)).order_by("id")}
        now = self.clock()
        out: dict[str, TradeResult] = {}
        changed = []
        for cid in client_order_ids:
            row = rows.get(cid)
            if row is None:
                out[cid] = TradeResult(cid, OrderStatus.REJECTED, reason="unknown order", refused="unknown order")
                continue
            ex = self._make()
            ex.restore_order(row.state)
            ex.advance(now)
            out[cid] = ex.cancel(cid)
            state = ex.export_order(cid)
            if state != row.state:
                row.state, row.status = state, state["status"]
                changed.append(row)
        if changed:
            stamp = timezone.now()
            for row in changed:
                row.updated_at = stamp
            rows_update(PaperBookOrder, changed, ["state", "status", "updated_at"])
        return out

    @transaction.atomic(savepoint=False)
    def amend(self, client_order_id: str, *, quantity: Decimal | None = None, limit_price: Decimal | None = None,
              risk_stamp: str = "") -> TradeResult:
        ex, row = self._load(client_order_id)
        if row is None:
            return TradeResult(client_order_id, OrderStatus.REJECTED, reason="unknown order", refused="unknown order")
        current = ex.status(client_order_id)
        working = ex.order_of(client_order_id)
        if current.status not in TERMINAL and unchecked_replace(working, quantity=quantity, limit_price=limit_price,
                                                                risk_stamp=risk_stamp):
            self._store(ex, row)
            return TradeResult(client_order_id, current.status, current.fills, current.reason, refused=NO_RISK_CHECK,
                               ts=self.clock())
        result = ex.amend(client_order_id, quantity=quantity, limit_price=limit_price)
        self._store(ex, row)
        return result

    def open_orders(self) -> Sequence[TradeResult]:
        ids = PaperBookOrder.objects.exclude(status__in=[s.value for s in TERMINAL]).values_list("client_order_id", flat=True)
        return [self.status(cid) for cid in ids]

    def fills_since(self, ts: datetime) -> Sequence[FillReport]:
        out: list[FillReport] = []
        for cid in PaperBookOrder.objects.values_list("client_order_id", flat=True):
            out += [f for f in self.status(cid).fills if f.ts_event >= ts]
        return sorted(out, key=lambda f: (f.ts_event, f.trade_id))

    def execute_trade(self, order: ExecutionOrder) -> TradeResult:
        raise NotImplementedError("the paper venue client works orders over time: submit, then status")
