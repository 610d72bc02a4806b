"""A portfolio's past, traded by the backtest engine and booked through the live desk's services.

``portfolio_history_load`` runs the portfolio's own strategy, constraints, limits and rebalance
calendar as a backtest over the sessions before a date (``backtest_run_now``: the one orchestrator,
risk engine, algo and router, market-on-close fills), keeps that run as a Backtest, then books each of
its fills as the live desk would: ``order_create`` -> SUBMITTED -> ACCEPTED -> ``fill_apply`` (which
moves the position, the realised P&L and the cash), and a ``NavSnapshot`` at every session's close with
the run's equity for that day. Nothing is written by hand that a service writes.

The fills were made at past closes, so each history order's creation time is set to its fill's market
time: the blotter and the order's page then say when it happened in the market.

Idempotent per portfolio: a portfolio that already has orders or NAV snapshots is left alone.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

ZERO = Decimal(0)


@dataclass(frozen=True)
class HistoryLoaded:
    run_id: int | None
    sessions: int
    orders: int
    fills: int
    nav_snapshots: int
    elapsed_s: float
    backtest_s: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.run_id is None


def history_window(before: date, sessions: int) -> tuple[date, date]:
    """The ``sessions`` XNYS sessions that end the session before ``before``: (first, last)."""
    from desk.clock.sessions import session_table

    table = session_table()
    import bisect

    i = bisect.bisect_left(table.dates, before)  # index of the first session on or after ``before``
    if i < sessions + 1:
        raise ValueError(f"the calendar has fewer than {sessions} sessions before {before.isoformat()}")
    return table.dates[i - sessions], table.dates[i - 1]


def history_values(portfolio, *, start: date, end: date, commission_bps: Decimal, slippage_bps: Decimal) -> dict:
    """The backtest of ``portfolio`` as it is configured: strategy, its params, constraints, calendar."""
    from portfolio_app.strategy import DESK_KEYS

    params = {k: v for k, v in (portfolio.strategy_params or {}).items() if k not in DESK_KEYS}
    if portfolio.constraints:
        params["constraints"] = dict(portfolio.constraints)
    policy = portfolio.rebalance_policy or {}
    frequency = policy.get("frequency") if policy.get("kind") == "calendar" else "monthly"
    return {
        "strategy": portfolio.strategy, "start": start.isoformat(), "end": end.isoformat(),
        "rebalance": frequency or "monthly", "capital": str(portfolio.cash), "commission_bps": str(commission_bps),
        "slippage_bps": str(slippage_bps), "fill": "close", "params": params,
    }


def portfolio_history_load(*, portfolio, before: date, sessions: int, commission_bps: Decimal = ZERO,
                           slippage_bps: Decimal = ZERO, user=None) -> HistoryLoaded:
    """Trade ``portfolio`` over the ``sessions`` sessions before ``before`` and book it (see the module).

    Locks the portfolio row for the booking, as every fill does. A portfolio with orders or NAV
    snapshots already has a history: nothing happens (``skipped``).
    """
    from execution_app.scenarios.services import backtest_run_now
    from orders_app.models import Order
    from portfolio_app.models import NavSnapshot

    t0 = time.perf_counter()
    if Order.objects.filter(portfolio=portfolio).exists() or NavSnapshot.objects.filter(portfolio=portfolio).exists():
        return HistoryLoaded(None, 0, 0, 0, 0, time.perf_counter() - t0)
    start, end = history_window(before, sessions)
    values = history_values(portfolio, start=start, end=end, commission_bps=commission_bps, slippage_bps=slippage_bps)
    run, result = backtest_run_now(values=values, user=user, portfolio=portfolio, publish=False,
                                   name=f"{portfolio.name}: the demo's history")
    t_backtest = time.perf_counter() - t0
    orders, fills, snaps = _book(portfolio, result, user=user)
    return HistoryLoaded(run.pk, len(result.dates), orders, fills, snaps, time.perf_counter() - t0, t_backtest)


def _book(portfolio, result, *, user) -> tuple[int, int, int]:
    """The run's fills as orders and fills of ``portfolio``, in session order, and a NAV snapshot a session."""
    from desk.interfaces import FillReport, LiquiditySide, Side
    from market_app.models import Instrument
    from orders_app import states
    from orders_app.models import Order
    from orders_app.services import fill_apply, order_apply_event, order_create
    from portfolio_app.models import NavSnapshot, Portfolio

    ids = dict(Instrument.objects.filter(symbol__in={t.symbol for t in result.trades}).values_list("symbol", "id"))
    by_day: dict[date, list] = defaultdict(list)
    for t in result.trades:
        by_day[t.date].append(t)
    n_orders = n_fills = 0
    snapshots = []
    peak = None
    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        for day, equity, _bench in result.equity_points():
            created: dict[str, list[int]] = defaultdict(list)  # market time -> order ids
            for k, t in enumerate(by_day.get(day, ())):
                coid = f"H{portfolio.pk}-{day:%Y%m%d}-{t.symbol}-{k}"
                order, _ = order_create(
                    client_order_id=coid, portfolio_id=portfolio.pk, instrument_id=ids[t.symbol], side=t.side,
                    quantity=t.qty, algo="IMMEDIATE", arrival_px=t.reference_price, created_by=user,
                )
                order_apply_event(order_id=order.pk, event=states.SUBMITTED, actor=user)
                order_apply_event(order_id=order.pk, event=states.ACCEPTED, venue_ts=t.ts)
                fill_apply(order_id=order.pk, report=FillReport(
                    trade_id=f"{coid}-1", client_order_id=coid, venue="", symbol=t.symbol, side=Side(t.side),
                    last_qty=t.qty, last_px=t.price, commission=t.commission, liquidity_side=LiquiditySide.TAKER,
                    ts_event=t.ts,
                ))
                created[t.ts].append(order.pk)
                n_orders += 1
                n_fills += 1
            for ts, pks in created.items():
                Order.objects.filter(pk__in=pks).update(created_at=ts)
            cash = Portfolio.objects.values_list("cash", flat=True).get(pk=portfolio.pk)
            snapshots.append(NavSnapshot(portfolio_id=portfolio.pk, session=day, nav=equity, cash=cash))
            peak = equity if peak is None or equity > peak else peak
        NavSnapshot.objects.bulk_create(snapshots)
        if peak is not None:
            Portfolio.objects.filter(pk=portfolio.pk).update(peak_nav=peak)
    return n_orders, n_fills, len(snapshots)
