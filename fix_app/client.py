"""The FIX venue client: commands go to the outbox in the caller's transaction; the gateway sends them.

``orders_app.venues.load_environment`` builds it for a venue of kind ``fix`` (``settings.DESK_VENUE_CLIENTS``).
It reports by push: ``submit`` answers SUBMITTED ("sent; reports follow"), ``cancel`` PENDING_CANCEL
and ``amend`` PENDING_UPDATE; the gateway (``fix_app.gateway``) applies the venue's reports later.
A cancel or a replace carries a new ClOrdID and the OrigClOrdID the venue works, chained to the order.

Like every venue client it refuses a new order or a replace without the risk gate's seal for exactly
that quantity and price; cancels always go through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from desk.interfaces import ExecutionOrder, FillReport, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, TradeResult
from desk.riskstamp import NO_RISK_CHECK, unchecked, unchecked_replace
from desk.venue import BrokerAdapter, FillCallback
from fix_app import services
from fix_app.models import FixCommand
from orders_app.models import Fill, Order, Venue
from orders_app.states import OPEN_STATUSES

S = OrderStatus
UNKNOWN = "unknown order"


def _noop(_fill: FillReport) -> None:
    return None


def _payload(order: ExecutionOrder | Order, venue: Venue, **over) -> dict:
    if isinstance(order, Order):
        side, symbol, qty, otype, px, tif = (order.side, order.instrument.symbol, order.quantity, order.order_type,
                                             order.limit_price, order.time_in_force)
    else:
        side, symbol, qty, otype, px, tif = (order.side, order.symbol, order.quantity, order.order_type, order.limit_price,
                                             order.time_in_force)
    out = {"side": getattr(side, "value", side), "symbol": symbol, "quantity": qty, "order_type": getattr(otype, "value", otype),
           "limit_price": px, "time_in_force": getattr(tif, "value", tif), "venue": venue.code}
    out.update({k: v for k, v in over.items() if v is not None})
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in out.items()}


class FixVenueClient(BrokerAdapter):
    """One FIX venue behind the ``BrokerAdapter`` interface, through the outbox and the gateway."""

    name = "fix"
    reports_by_push = True

    def __init__(self, *, venue: Venue, clock: Callable[[], datetime], market=None, lot_size: int | Decimal = 1):
        self.venue, self.clock, self.market, self.lot_size = venue, clock, market, lot_size

    def _order(self, client_order_id: str) -> Order | None:
        return (Order.objects.select_related("instrument").filter(client_order_id=client_order_id, venue=self.venue).first())

    @transaction.atomic(savepoint=False)
    def submit(self, order: ExecutionOrder, on_fill: FillCallback = _noop) -> TradeResult:
        """Queue a NewOrderSingle; idempotent by client order id (a second submit sends nothing)."""
        refused = unchecked(order)
        if refused is not None:
            return refused
        order_id, created = services.command_new_create(venue=self.venue, client_order_id=order.client_order_id,
                                                        payload=_payload(order, self.venue))
        if order_id is None:
            return TradeResult(order.client_order_id, S.REJECTED, reason=f"no order {order.client_order_id} for {self.venue.code}")
        if created is None:  # a redelivered submit sends nothing
            return self.status(order.client_order_id)
        return TradeResult(order.client_order_id, S.SUBMITTED, ts=self.clock())

    @transaction.atomic(savepoint=False)
    def cancel(self, client_order_id: str) -> TradeResult:
        """Queue an OrderCancelRequest on a new ClOrdID; a new order still in the outbox is withdrawn instead."""
        order = self._order(client_order_id)
        new = (FixCommand.objects.select_for_update().filter(venue=self.venue, cl_ord_id=client_order_id, kind=FixCommand.Kind.NEW).first())
        if order is None or new is None:
            return TradeResult(client_order_id, S.REJECTED, reason=UNKNOWN, refused=UNKNOWN)
        if new.state == FixCommand.State.PENDING:  # it never left: nothing at the venue to cancel
            services.command_withdraw(new, why="cancelled before it was sent")
            return TradeResult(client_order_id, S.CANCELED, ts=self.clock())
        services.command_create(venue=self.venue, order=order, kind=FixCommand.Kind.CANCEL,
                                payload=_payload(order, self.venue, quantity=order.quantity))
        return TradeResult(client_order_id, S.PENDING_CANCEL, ts=self.clock())

    @transaction.atomic(savepoint=False)
    def cancel_many(self, client_order_ids: Sequence[str]) -> dict[str, TradeResult]:
        """``cancel`` of many orders: the orders and their NewOrderSingles read at once (the commands locked, by
        id), the new orders still in the outbox withdrawn in one statement, the cancels queued in one insert."""
        ids = list(client_order_ids)
        orders = {o.client_order_id: o for o in Order.objects.select_related("instrument")
                  .filter(client_order_id__in=ids, venue=self.venue)}
        news = {c.cl_ord_id: c for c in FixCommand.objects.select_for_update().filter(
            venue=self.venue, cl_ord_id__in=ids, kind=FixCommand.Kind.NEW).order_by("id")}
        out: dict[str, TradeResult] = {}
        withdraw, cancel = [], []
        now = self.clock()
        for cid in ids:
            order, new = orders.get(cid), news.get(cid)
            if order is None or new is None:
                out[cid] = TradeResult(cid, S.REJECTED, reason=UNKNOWN, refused=UNKNOWN)
            elif new.state == FixCommand.State.PENDING:  # it never left: nothing at the venue to cancel
                withdraw.append(new)
                out[cid] = TradeResult(cid, S.CANCELED, ts=now)
            else:
                cancel.append(order)
                out[cid] = TradeResult(cid, S.PENDING_CANCEL, ts=now)
        services.commands_withdraw(withdraw, why="cancelled before it was sent")
        services.cancels_create(venue=self.venue, orders=cancel,
                                payloads=[_payload(o, self.venue, quantity=o.quantity) for o in cancel])
        return out

    @transaction.atomic(savepoint=False)
    def amend(self, client_order_id: str, *, quantity: Decimal | None = None, limit_price: Decimal | None = None,
              risk_stamp: str = "") -> TradeResult:
        """Queue an OrderCancelReplaceRequest on a new ClOrdID, sealed for what the order becomes."""
        order = self._order(client_order_id)
        if order is None or not FixCommand.objects.filter(venue=self.venue, cl_ord_id=client_order_id, kind=FixCommand.Kind.NEW).exists():
            return TradeResult(client_order_id, S.REJECTED, reason=UNKNOWN, refused=UNKNOWN)
        working = ExecutionOrder(client_order_id=client_order_id, symbol=order.instrument.symbol, side=Side(order.side),
                                 quantity=order.quantity, venue=self.venue.code, order_type=OrderType(order.order_type),
                                 limit_price=order.limit_price, time_in_force=TimeInForce(order.time_in_force))
        if unchecked_replace(working, quantity=quantity, limit_price=limit_price, risk_stamp=risk_stamp):
            return TradeResult(client_order_id, S(order.status), reason=NO_RISK_CHECK, refused=NO_RISK_CHECK, ts=self.clock())
        services.command_create(venue=self.venue, order=order, kind=FixCommand.Kind.REPLACE,
                                payload=_payload(order, self.venue, quantity=quantity, limit_price=limit_price))
        return TradeResult(client_order_id, S.PENDING_UPDATE, ts=self.clock())

    @transaction.atomic(savepoint=False)
    def status(self, client_order_id: str) -> TradeResult:
        """Queue an OrderStatusRequest (its answer settles the order) and say "reports follow", with the fills so far."""
        order = self._order(client_order_id)
        if order is None or not FixCommand.objects.filter(venue=self.venue, cl_ord_id=client_order_id, kind=FixCommand.Kind.NEW).exists():
            return TradeResult(client_order_id, S.REJECTED, reason=UNKNOWN)
        if order.status in OPEN_STATUSES:
            services.command_create(venue=self.venue, order=order, kind=FixCommand.Kind.STATUS, payload=_payload(order, self.venue))
            return TradeResult(client_order_id, S.SUBMITTED, self._fills(order))
        return TradeResult(client_order_id, S(order.status), self._fills(order), order.reason)

    def _fills(self, order: Order) -> tuple[FillReport, ...]:
        return tuple(
            FillReport(trade_id=f.trade_id, client_order_id=order.client_order_id, venue=self.venue.code, symbol=order.instrument.symbol,
                       side=Side(order.side), last_qty=f.last_qty, last_px=f.last_px, commission=f.commission,
                       liquidity_side=LiquiditySide(f.liquidity_side), ts_event=f.ts_event)
            for f in order.fills.order_by("id")
        )

    def open_orders(self) -> Sequence[TradeResult]:
        """The desk's orders this venue works, as its reports left them (the venue's own view comes by reconciliation)."""
        orders = Order.objects.select_related("instrument").filter(venue=self.venue, status__in=OPEN_STATUSES, cl_ord_links__isnull=False).distinct()
        return [TradeResult(o.client_order_id, S(o.status), self._fills(o)) for o in orders]

    def fills_since(self, ts: datetime) -> Sequence[FillReport]:
        fills = Fill.objects.select_related("order__instrument").filter(venue=self.venue, ts_event__gte=ts).order_by("ts_event", "trade_id")
        return [FillReport(trade_id=f.trade_id, client_order_id=f.order.client_order_id, venue=self.venue.code,
                           symbol=f.order.instrument.symbol, side=Side(f.order.side), last_qty=f.last_qty, last_px=f.last_px,
                           commission=f.commission, liquidity_side=LiquiditySide(f.liquidity_side), ts_event=f.ts_event)
                for f in fills]

    def execute_trade(self, order: ExecutionOrder) -> TradeResult:
        raise NotImplementedError("a FIX venue reports by push: submit, then the gateway applies its reports")


def fix_environment(*, market, clock: Callable[[], datetime], lot_size: Decimal | int = 1, venue: Venue) -> FixVenueClient:
    """The factory ``settings.DESK_VENUE_CLIENTS["fix"]`` names."""
    return FixVenueClient(venue=venue, clock=clock, market=market, lot_size=lot_size)


__all__ = ["FixVenueClient", "fix_environment"]
