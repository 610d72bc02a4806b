"""The paper exchange: simulated venues that follow DESIGN.md's market conventions exactly.

- Quotes: each venue shows bid/ask at ``mark · (1 ∓ half_spread)``, with a displayed
  size of ``displayed_share`` of the current minute's market volume (U-shaped
  profile x ADV), floored to lots. What one order takes in a minute is gone for
  every other order at that venue in that minute.
- Timing: an order reaches the venue ``latency_ms`` after it was sent; it is
  worked at that instant and then at every tick (minute mark) of the session.
- Market orders, and limit orders whose limit the touch crosses, fill as TAKER at
  ``touch · (1 ± k · σ_daily · sqrt(order_qty / ADV))`` (never through the limit),
  up to the displayed size per tick, the rest on later ticks.
- A limit order that does not cross on arrival rests; it fills as MAKER at its
  limit once the mark (the path) reaches the limit, again up to the displayed size.
- Fees: maker/taker bps of the fill's notional, at least the venue's minimum,
  rounded to the cent half-even once per fill (``desk.money``).
- IOC: whatever is not filled at arrival is cancelled. DAY and GTC expire at the
  session close (the exchange works one session at a time).
- ``trade_id`` is ``<client_order_id>-<n>`` (n-th fill of that order), so a replay
  of the same orders on the same path yields the same ids.

Pure: the market (``state`` / ``next_tick`` / ``is_open``, e.g.
``market_app.intraday.SessionMarket``) and the clock (a callable giving market
time) are injected; nothing here reads the wall clock or does I/O.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from desk.venue import TERMINAL, BrokerAdapter, FillCallback
from desk.interfaces import ExecutionOrder, FillReport, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, TradeResult, VenueQuote
from desk.money import bps, cash, price, to_decimal


class MarketSource(Protocol):
    """What the paper exchange reads of the market (``intraday.SessionMarket`` implements it)."""

    def state(self, symbol: str, ts: datetime) -> Any: ...  # .mark, .minute_volume, .adv, .daily_vol

    def next_tick(self, ts: datetime) -> datetime | None: ...

    def is_open(self, ts: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class PaperVenue:
    """One simulated venue; field names follow ``orders_app.models.Venue``."""

    code: str
    half_spread_bps: float = 1.0
    maker_fee_bps: float = 0.0
    taker_fee_bps: float = 0.0
    min_fee: Decimal = Decimal(0)
    latency_ms: float = 1.0
    impact_k: float = 0.1
    displayed_share: float = 0.1
    enabled: bool = True


class _Working:
    """One order's state inside the exchange (mutable, private)."""

    __slots__ = ("order", "venue", "on_fill", "next_at", "remaining", "fills", "status", "reason", "rested")

    def __init__(self, order: ExecutionOrder, venue: PaperVenue, on_fill: FillCallback):
        self.order = order
        self.venue = venue
        self.on_fill = on_fill
        self.next_at: datetime | None = None
        self.remaining: Decimal = order.quantity
        self.fills: list[FillReport] = []
        self.status = OrderStatus.ACCEPTED
        self.reason = ""
        self.rested = False  # was in the book without crossing: later fills are MAKER at the limit

    def result(self, **kw) -> TradeResult:
        return TradeResult(self.order.client_order_id, self.status, tuple(self.fills), self.reason, **kw)


def _noop(_fill: FillReport) -> None:
    return None


class PaperExchange(BrokerAdapter):
    """Simulated venues on the desk's intraday market; the reference ``BrokerAdapter``.

    ``submit`` acknowledges and queues; ``advance()`` works every queued order up to
    the clock's market time, reporting fills through each order's ``on_fill``.
    ``execute_trade`` works one order to the end of the session in one call.
    Set ``market`` to the next session's source when the session changes.
    """

    name = "paper"

    def __init__(
        self,
        venues: Iterable[PaperVenue] | Mapping[str, PaperVenue],
        *,
        market: MarketSource,
        clock: Callable[[], datetime],
        lot_size: int | Decimal = 1,
    ):
        items = venues.values() if isinstance(venues, Mapping) else venues
        self.venues: dict[str, PaperVenue] = {v.code: v for v in items}
        self.market = market
        self.clock = clock
        self.lot = to_decimal(lot_size)
        self._lot_f = float(self.lot)
        self._orders: dict[str, _Working] = {}
        self._queue: list[tuple[datetime, int, str]] = []
        self._seq = 0
        self._taken: dict[tuple[str, str, int], float] = {}  # (venue, symbol, minute) -> shares taken
        self._fills: list[FillReport] = []

    # Venues and quotes

    def set_venue_up(self, code: str, up: bool) -> None:
        self.venues[code] = replace(self.venues[code], enabled=up)

    def _displayed(self, venue: PaperVenue, symbol: str, ts: datetime, minute_volume: float) -> float:
        shown = math.floor(venue.displayed_share * minute_volume / self._lot_f) * self._lot_f
        return max(0.0, shown - self._taken.get((venue.code, symbol, int(ts.timestamp() // 60)), 0.0))

    def quotes(self, symbol: str, ts: datetime | None = None) -> list[VenueQuote]:
        """Every venue's quote for ``symbol`` at ``ts`` (default: now), as the router reads them."""
        ts = ts or self.clock()
        st = self.market.state(symbol, ts)
        out = []
        for v in self.venues.values():
            half = v.half_spread_bps * 1e-4
            out.append(
                VenueQuote(
                    venue=v.code,
                    bid=price(st.mark * (1.0 - half)),
                    ask=price(st.mark * (1.0 + half)),
                    displayed_qty=Decimal(int(self._displayed(v, symbol, ts, st.minute_volume))),
                    maker_fee_bps=v.maker_fee_bps,
                    taker_fee_bps=v.taker_fee_bps,
                    latency_ms=v.latency_ms,
                    impact_k=v.impact_k,
                    up=v.enabled,
                )
            )
        return out

    # The adapter interface

    def submit(self, order: ExecutionOrder, on_fill: FillCallback) -> TradeResult:
        known = self._orders.get(order.client_order_id)
        if known is not None:  # a redelivered submit changes nothing
            return known.result()
        w = self._accept(order, on_fill)
        if w.status is OrderStatus.ACCEPTED:
            self.advance()
        return w.result()

    def execute_trade(self, order: ExecutionOrder) -> TradeResult:
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return known.result()
        w = self._accept(order, _noop)
        while w.status not in TERMINAL and w.next_at is not None:
            self._work(w)
        return w.result()

    def advance(self, until: datetime | None = None) -> list[FillReport]:
        """Work every queued order whose next event is at or before ``until`` (default: the clock)."""
        until = until or self.clock()
        start = len(self._fills)
        q = self._queue
        alone = len(self._orders) == 1
        while q and q[0][0] <= until:
            at, _, cid = heapq.heappop(q)
            w = self._orders[cid]
            if w.status in TERMINAL or w.next_at != at:
                continue  # cancelled, or a stale queue entry
            if alone and self._skip_quiet(w, until):
                if w.status not in TERMINAL and w.next_at is not None:
                    self._push(w)
                continue
            self._work(w)
            if w.status not in TERMINAL and w.next_at is not None:
                self._push(w)
        self._prune(until)
        return self._fills[start:]

    def cancel(self, client_order_id: str) -> TradeResult:
        """Stop working the rest at market now; a finished order refuses (``refused`` says why)."""
        w = self._orders.get(client_order_id)
        if w is None:
            return TradeResult(client_order_id, OrderStatus.REJECTED, reason="unknown order", refused="unknown order")
        if w.status in TERMINAL:
            return w.result(refused=f"too late to cancel: the order is {w.status.value}", ts=self.clock())
        self._close(w, OrderStatus.CANCELED, "cancelled on request")
        return w.result(ts=self.clock())

    def amend(
        self, client_order_id: str, *, quantity: Decimal | None = None, limit_price: Decimal | None = None,
        risk_stamp: str = "",
    ) -> TradeResult:
        """Replace the quantity and/or limit at market now; a refused replace leaves the order as it was."""
        w = self._orders.get(client_order_id)
        if w is None:
            return TradeResult(client_order_id, OrderStatus.REJECTED, reason="unknown order", refused="unknown order")
        if w.status in TERMINAL:
            return w.result(refused=f"cannot amend a {w.status.value} order", ts=self.clock())
        filled = w.order.quantity - w.remaining
        if quantity is not None:
            if quantity < filled or quantity % self.lot != 0:
                return w.result(refused=f"quantity {quantity} is below the {filled} filled or not whole lots", ts=self.clock())
            w.order = replace(w.order, quantity=quantity)
            w.remaining = quantity - filled
        if limit_price is not None:
            w.order = replace(w.order, limit_price=limit_price)
        if w.remaining == 0:  # cut to what has filled: done
            self._close(w, OrderStatus.FILLED, "")
        return w.result(ts=self.clock())

    def status(self, client_order_id: str) -> TradeResult:
        w = self._orders.get(client_order_id)
        if w is None:
            return TradeResult(client_order_id, OrderStatus.REJECTED, reason="unknown order")
        return w.result()

    def open_orders(self) -> Sequence[TradeResult]:
        return [w.result() for w in self._orders.values() if w.status not in TERMINAL]

    def order_of(self, client_order_id: str) -> ExecutionOrder:
        """The order as the venue now works it (quantity and limit after any replace)."""
        return self._orders[client_order_id].order

    def fills_since(self, ts: datetime) -> Sequence[FillReport]:
        return [f for f in self._fills if f.ts_event >= ts]

    # The book as data: a venue that keeps its book outside this process (``market_app.paper_venue``)

    def export_order(self, client_order_id: str) -> dict:
        """One order's whole state at the venue as plain JSON data (``restore_order`` reads it back)."""
        w = self._orders[client_order_id]
        o = w.order
        return {
            "order": {
                "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value, "quantity": str(o.quantity),
                "venue": o.venue, "order_type": o.order_type.value,
                "limit_price": None if o.limit_price is None else str(o.limit_price),
                "time_in_force": o.time_in_force.value, "ts": o.ts.isoformat() if o.ts else None,
            },
            "status": w.status.value, "reason": w.reason, "remaining": str(w.remaining), "rested": w.rested,
            "next_at": w.next_at.isoformat() if w.next_at else None,
            "fills": [
                {"trade_id": f.trade_id, "qty": str(f.last_qty), "px": str(f.last_px), "commission": str(f.commission),
                 "liquidity": f.liquidity_side.value, "ts": f.ts_event.isoformat()}
                for f in w.fills
            ],
        }

    def restore_order(self, state: Mapping[str, Any], on_fill: FillCallback = _noop) -> None:
        """Put back an order exported by ``export_order``: it is worked from where it was."""
        od = state["order"]
        order = ExecutionOrder(
            client_order_id=od["client_order_id"], symbol=od["symbol"], side=Side(od["side"]), quantity=Decimal(od["quantity"]),
            venue=od["venue"], order_type=OrderType(od["order_type"]),
            limit_price=None if od["limit_price"] is None else Decimal(od["limit_price"]),
            time_in_force=TimeInForce(od["time_in_force"]), ts=datetime.fromisoformat(od["ts"]) if od["ts"] else None,
        )
        w = _Working(order, self.venues.get(order.venue) or PaperVenue(order.venue), on_fill)
        w.status, w.reason, w.remaining, w.rested = OrderStatus(state["status"]), state["reason"], Decimal(state["remaining"]), state["rested"]
        w.next_at = datetime.fromisoformat(state["next_at"]) if state["next_at"] else None
        w.fills = [
            FillReport(trade_id=f["trade_id"], client_order_id=order.client_order_id, venue=order.venue, symbol=order.symbol,
                       side=order.side, last_qty=Decimal(f["qty"]), last_px=Decimal(f["px"]), commission=Decimal(f["commission"]),
                       liquidity_side=LiquiditySide(f["liquidity"]), ts_event=datetime.fromisoformat(f["ts"]))
            for f in state["fills"]
        ]
        self._orders[order.client_order_id] = w
        if w.status not in TERMINAL and w.next_at is not None:
            self._push(w)

    # Internals

    def _accept(self, order: ExecutionOrder, on_fill: FillCallback) -> _Working:
        venue = self.venues.get(order.venue)
        w = _Working(order, venue or PaperVenue(order.venue), on_fill)
        self._orders[order.client_order_id] = w
        reason = ""
        if venue is None:
            reason = f"unknown venue {order.venue!r}"
        elif not venue.enabled:
            reason = f"venue {venue.code} is down"
        elif order.quantity <= 0 or order.quantity % self.lot != 0:
            reason = f"quantity {order.quantity} is not a positive whole number of lots of {self.lot}"
        elif order.order_type is OrderType.LIMIT and order.limit_price is None:
            reason = "a LIMIT order needs a limit price"
        if reason:
            w.status, w.reason = OrderStatus.REJECTED, reason
            return w
        arrival = (order.ts or self.clock()) + timedelta(milliseconds=venue.latency_ms)
        w.next_at = arrival if self.market.is_open(arrival) else self.market.next_tick(arrival)
        if w.next_at is None:
            w.status, w.reason = OrderStatus.REJECTED, "the market is closed"
            return w
        self._push(w)
        return w

    def _push(self, w: _Working) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (w.next_at, self._seq, w.order.client_order_id))

    def _close(self, w: _Working, status: OrderStatus, reason: str) -> None:
        w.status, w.reason, w.next_at = status, reason, None

    def _work(self, w: _Working) -> None:
        """One event of one order at ``w.next_at``: fill what the rules allow, then schedule the next."""
        t = w.next_at
        order, venue = w.order, w.venue
        if not venue.enabled:
            # A venue that goes down mid-order stops working it; the desk re-routes the rest.
            self._close(w, OrderStatus.CANCELED, f"venue {venue.code} went down")
            return
        st = self.market.state(order.symbol, t)
        s = 1.0 if order.side is Side.BUY else -1.0
        touch = st.mark * (1.0 + s * venue.half_spread_bps * 1e-4)
        limit = order.limit_price
        fill_px: Decimal | None = None
        liquidity = LiquiditySide.TAKER
        marketable = limit is None or (touch <= float(limit) if s > 0 else touch >= float(limit))
        shown = self._displayed(venue, order.symbol, t, st.minute_volume)
        if shown >= self._lot_f:  # nothing to price when the minute's display is used up
            if w.rested and (st.mark <= float(limit) if s > 0 else st.mark >= float(limit)):
                # It sat in the book and the path came through it: filled at its own price, as maker.
                fill_px, liquidity = price(limit), LiquiditySide.MAKER
            elif marketable:
                impact = venue.impact_k * st.daily_vol * math.sqrt(float(order.quantity) / st.adv) if st.adv > 0 else 0.0
                fill_px = price(touch * (1.0 + s * impact))
                if limit is not None:  # marketable limit: impact may not carry it through the limit
                    fill_px = min(fill_px, limit) if s > 0 else max(fill_px, limit)
            if fill_px is not None:
                qty = min(w.remaining, Decimal(int(shown / self._lot_f)) * self.lot)
                self._fill(w, qty, fill_px, liquidity, t)
        if not marketable:
            w.rested = True
        if w.remaining == 0:
            self._close(w, OrderStatus.FILLED, "")
        elif order.time_in_force is TimeInForce.IOC:
            self._close(w, OrderStatus.CANCELED, f"IOC: {w.remaining} unfilled at arrival")
        else:
            w.next_at = self.market.next_tick(t)
            if w.next_at is None:
                self._close(w, OrderStatus.EXPIRED, f"session closed with {w.remaining} unfilled")

    def _skip_quiet(self, w: _Working, until: datetime) -> bool:
        """Move a resting limit order past the ticks up to ``until`` at which nothing can happen to it: its mark has
        not reached its limit, so neither a maker nor a taker fill is possible (the touch is the mark or worse), and
        ``_work`` would only move it to the next tick. It goes to the first tick whose mark reaches the limit (worked
        as usual), else past ``until`` (EXPIRED if that was the close, as ``_work`` would end it). True when it moved.

        Ticks are minute marks, read off the market's ``path`` in one go (``intraday.SessionMarket``); a market
        without one, a venue down, an order not resting yet, and an exchange working several orders (whose order
        among each other at a tick must not change) go tick by tick."""
        m, order, t = self.market, w.order, w.next_at
        path = getattr(m, "path", None)
        if (path is None or not w.rested or order.limit_price is None or order.time_in_force is TimeInForce.IOC
                or not w.venue.enabled or w.venue.half_spread_bps < 0 or t is None or not m.is_open(t)):
            return False
        k0, k1 = m.minute_index(t), m.minute_index(until)
        marks = path(order.symbol)[k0:k1 + 1]
        limit = float(order.limit_price)
        reached = (marks <= limit) if order.side is Side.BUY else (marks >= limit)
        hits = reached.nonzero()[0]
        if len(hits) and hits[0] == 0:
            return False  # this tick may fill: worked as usual
        k = k0 + int(hits[0]) if len(hits) else k1 + 1
        if k > m.n_minutes:  # the close was its last tick: ``_work`` would have ended it there
            self._close(w, OrderStatus.EXPIRED, f"session closed with {w.remaining} unfilled")
            return True
        w.next_at = min(m.session_open + timedelta(minutes=k), m.session_close)
        return True

    def _fill(self, w: _Working, qty: Decimal, px: Decimal, liquidity: LiquiditySide, t: datetime) -> None:
        venue, order = w.venue, w.order
        key = (venue.code, order.symbol, int(t.timestamp() // 60))
        self._taken[key] = self._taken.get(key, 0.0) + float(qty)
        fee_bps = venue.maker_fee_bps if liquidity is LiquiditySide.MAKER else venue.taker_fee_bps
        commission = cash(max(qty * px * bps(fee_bps), to_decimal(venue.min_fee)))
        fill = FillReport(
            trade_id=f"{order.client_order_id}-{len(w.fills) + 1}",
            client_order_id=order.client_order_id,
            venue=venue.code,
            symbol=order.symbol,
            side=order.side,
            last_qty=qty,
            last_px=px,
            commission=commission,
            liquidity_side=liquidity,
            ts_event=t,
        )
        w.remaining -= qty
        w.fills.append(fill)
        w.status = OrderStatus.PARTIALLY_FILLED
        self._fills.append(fill)
        w.on_fill(fill)

    def _prune(self, until: datetime) -> None:
        # Liquidity taken in minutes already past can no longer matter.
        if len(self._taken) > 4096:
            now_minute = int(until.timestamp() // 60)
            self._taken = {k: v for k, v in self._taken.items() if k[2] >= now_minute}
