"""The backtest environment: orders fill at a bar's close (DESIGN.md, "Backtest fills").

By default the order decided on the close of day t fills at that same close
(market-on-close: a mild look-ahead that backtests traditionally accept, and
which is labelled as such in ``fill_timing``); ``BacktestEnvironment.from_closes``
with ``fill="next_close"`` fills at t+1 instead. The fill price is the close
moved against the order by ``slippage_bps``; commission is ``commission_bps`` of
the notional, at least ``min_commission``, to the cent half-even. A limit order
fills only if that price is within its limit, else it expires unfilled.

Pure: the close is read through an injected callable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from desk.interfaces import ExecutionEnvironment, ExecutionOrder, FillReport, LiquiditySide, OrderStatus, OrderType, Side, TradeResult
from desk.money import bps, cash, price, to_decimal

NEW_YORK = ZoneInfo("America/New_York")

# (symbol, order time) -> (fill price, fill time), or None when there is no bar.
BarClose = Callable[[str, datetime], "tuple[Decimal | float, datetime] | None"]


class BacktestEnvironment(ExecutionEnvironment):
    name = "backtest"

    def __init__(
        self,
        bar_close: BarClose,
        *,
        commission_bps: float = 0.0,
        slippage_bps: float = 0.0,
        min_commission: Decimal | float = Decimal(0),
        clock: Callable[[], datetime] | None = None,
        fill_timing: str = "close (market-on-close, same-bar look-ahead)",
    ):
        self.bar_close = bar_close
        self.commission = bps(commission_bps)
        self.slippage = bps(slippage_bps)
        self.min_commission = to_decimal(min_commission)
        self.clock = clock
        self.fill_timing = fill_timing

    @classmethod
    def from_closes(cls, closes: Any, *, fill: str = "close", **kwargs: Any) -> "BacktestEnvironment":
        """From a pandas DataFrame of closes (dates x symbols); ``fill`` is ``close`` or ``next_close``.

        The bar of an order is the last row dated on or before the order's (New York) date.
        """
        import pandas as pd

        if fill not in ("close", "next_close"):
            raise ValueError("fill must be 'close' or 'next_close'")
        frame = closes.sort_index()
        index = pd.DatetimeIndex(frame.index)
        shift = 1 if fill == "next_close" else 0

        def bar_close(symbol: str, ts: datetime) -> tuple[Decimal | float, datetime] | None:
            day = pd.Timestamp(ts.astimezone(NEW_YORK).date())
            if index.tz is not None:
                day = day.tz_localize(index.tz)
            i = index.searchsorted(day, side="right") - 1 + shift
            if i < 0 or i >= len(index) or symbol not in frame.columns:
                return None
            px = frame[symbol].iat[i]
            if pd.isna(px):
                return None
            stamp = index[i]
            when = stamp.to_pydatetime()
            when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
            return float(px), when

        label = "close (market-on-close, same-bar look-ahead)" if fill == "close" else "next close"
        kwargs.setdefault("fill_timing", label)
        return cls(bar_close, **kwargs)

    def execute_trade(self, order: ExecutionOrder) -> TradeResult:
        cid = order.client_order_id
        if order.quantity <= 0:
            return TradeResult(cid, OrderStatus.REJECTED, reason="quantity must be positive")
        ts = order.ts or (self.clock() if self.clock else None)
        if ts is None:
            return TradeResult(cid, OrderStatus.REJECTED, reason="the order has no time and no clock was given")
        bar = self.bar_close(order.symbol, ts)
        if bar is None:
            return TradeResult(cid, OrderStatus.REJECTED, reason=f"no bar for {order.symbol} at {ts.isoformat()}")
        close, when = bar
        sign = Decimal(order.side.sign)
        px = price(to_decimal(close) * (Decimal(1) + sign * self.slippage))
        if order.order_type is OrderType.LIMIT:
            if order.limit_price is None:
                return TradeResult(cid, OrderStatus.REJECTED, reason="a LIMIT order needs a limit price")
            if (px > order.limit_price) if order.side is Side.BUY else (px < order.limit_price):
                return TradeResult(cid, OrderStatus.EXPIRED, reason=f"fill price {px} is beyond the limit {order.limit_price}")
        fee = cash(max(order.quantity * px * self.commission, self.min_commission))
        fill = FillReport(
            trade_id=f"{cid}-1",
            client_order_id=cid,
            venue=order.venue or self.name,
            symbol=order.symbol,
            side=order.side,
            last_qty=order.quantity,
            last_px=px,
            commission=fee,
            liquidity_side=LiquiditySide.TAKER,
            ts_event=when,
        )
        return TradeResult(cid, OrderStatus.FILLED, (fill,))
