"""Demo price-bar load (rows/s) vs a raw bulk insert of the same rows in the same run
(COPY on PostgreSQL, executemany on SQLite), each into an empty table; and the demo's history
(the sessions before the clock's start traded by the backtest engine and booked through the order
and fill services, ``load_demo``'s part that ``make run`` waits for) on a scratch copy of Core Equity,
against the backtest alone measured in the same call."""

from __future__ import annotations

import time

from django.db import connection, transaction


def _raw_insert(rows) -> float:
    from market_app.models import PriceBar

    table = PriceBar._meta.db_table
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f"COPY {table} (instrument_id, date, close) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            cur.executemany(f"INSERT INTO {table} (instrument_id, date, close) VALUES (%s, %s, %s)", [(i, d, str(c)) for i, d, c in rows])
    return time.perf_counter() - t0


def _history():
    """The history's seconds on a scratch portfolio configured as Core Equity, removed afterwards."""
    from datetime import date

    from django.conf import settings

    from execution_app.models import ScenarioRun
    from execution_app.scenarios.history import portfolio_history_load
    from market_app.clock import anchor_get_or_create
    from ops_app import demo
    from orders_app.models import Fill, Order, OrderEvent, RoutingDecision
    from portfolio_app.models import NavSnapshot, Portfolio, Position, RebalanceProposal

    core = Portfolio.objects.filter(name=demo.DEMO_PORTFOLIO).first()
    if core is None:
        return [{"name": "demo.history_load", "value": None, "unit": "s", "note": "demo not loaded (make demo)"}]
    scratch = Portfolio.objects.create(
        name="bench: demo history", cash=settings.DESK_DEMO_CAPITAL, benchmark=core.benchmark,
        strategy=core.strategy, strategy_params=core.strategy_params, constraints=core.constraints,
        rebalance_policy=core.rebalance_policy,
    )
    start = anchor_get_or_create().start_market_date
    before = start if isinstance(start, date) else date.fromisoformat(str(start))
    try:
        h = portfolio_history_load(portfolio=scratch, before=before, sessions=demo.HISTORY_SESSIONS,
                                   commission_bps=demo.HISTORY_COMMISSION_BPS, slippage_bps=demo.HISTORY_SLIPPAGE_BPS)
    finally:
        orders = Order.objects.filter(portfolio=scratch)
        Fill.objects.filter(order__in=orders).delete()
        OrderEvent.objects.filter(order__in=orders).delete()
        RoutingDecision.objects.filter(parent__in=orders).delete()
        orders.filter(parent__isnull=False).delete()
        orders.delete()
        for model in (Position, NavSnapshot, RebalanceProposal):
            model.objects.filter(portfolio=scratch).delete()
        ScenarioRun.objects.filter(portfolio=scratch).delete()
        scratch.delete()
    booking = h.elapsed_s - h.backtest_s
    return [
        {"name": "demo.history_load", "value": round(h.elapsed_s, 3), "unit": "s",
         "ratio": round(h.elapsed_s / h.backtest_s, 3) if h.backtest_s else None,
         "ref": "the backtest alone (run and stored), in the same call",
         "note": f"{h.sessions} sessions, {h.orders} orders, {h.fills} fills, {h.nav_snapshots} NAV snapshots: backtest "
                 f"{h.backtest_s:.2f}s, booking through the services {booking:.2f}s ({booking / max(h.orders, 1) * 1000:.1f} ms/order)"},
    ]


def run():
    from ops_app import demo
    from market_app.models import PriceBar

    prices, index = demo.price_frames()
    demo.instruments_ensure()
    _, ids = demo.instruments_ensure()
    frame = prices.copy()
    frame[demo.INDEX_SYMBOL] = index.iloc[:, 0]
    rows = list(demo.price_bar_rows(frame, ids))

    saved = list(PriceBar.objects.values_list("instrument_id", "date", "close"))
    try:
        PriceBar.objects.all().delete()
        t0 = time.perf_counter()
        with transaction.atomic():
            n = demo.price_bars_ensure(prices, index, ids)
        t_load = time.perf_counter() - t0
        PriceBar.objects.all().delete()
        t_raw = _raw_insert(rows)
    finally:
        PriceBar.objects.all().delete()
        if saved:
            _raw_insert(saved)
    ref = "COPY" if connection.vendor == "postgresql" else "executemany"
    return _history() + [
        {"name": "demo.price_bars_load", "value": n / t_load, "unit": "rows/s", "ratio": round(t_raw / t_load, 3), "ref": f"raw {ref} of the same {n} rows", "note": f"{t_load:.2f}s vs {t_raw:.2f}s ({connection.vendor})"},
    ]
