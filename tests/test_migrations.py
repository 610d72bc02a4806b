"""Models that moved app keep their tables and rows: a traded demo desk migrates across the move and back."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The apps created by the move; migrating them to zero takes the database back to the layout before it.
NEW_APPS = ("market_app", "signals_app", "ops_app")
MOVED = {  # table -> the app its model belongs to after the move
    "portfolio_app_instrument": "market_app", "portfolio_app_pricebar": "market_app",
    "execution_app_marketclockanchor": "market_app", "execution_app_agent": "signals_app",
    "execution_app_historicalagent": "signals_app", "execution_app_signal": "signals_app",
    "risk_app_agentrollout": "signals_app", "risk_app_alertrule": "ops_app", "risk_app_historicalalertrule": "ops_app",
    "risk_app_alertdelivery": "ops_app", "risk_app_modechange": "ops_app",
}


# Derived from the book and rebuilt from it by the desk book refresh (risk_app/desk_book.py): migrating
# back past their migration drops them, and nothing is lost with them.
DERIVED = ("risk_app_deskexposure", "risk_app_deskexposurepart")


def _counts() -> dict[str, int]:
    with connection.cursor() as cur:
        out = {}
        for table in connection.introspection.table_names(cur):
            if table != "django_migrations" and table not in DERIVED:
                cur.execute(f'SELECT COUNT(*) FROM "{table}"')
                out[table] = cur.fetchone()[0]
    return out


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _trade_a_day() -> None:
    """The demo after a day of trading: a proposal approved, its orders filled, signals, an alert rule, a limit."""
    from desk.clock import SteppedClock
    from desk.interfaces import FillReport, LiquiditySide, Side
    from execution_app.rebalance.approval import proposal_approve
    from execution_app.rebalance.services import proposal_create
    from market_app.clock import set_clock
    from ops_app import demo
    from orders_app.models import Order
    from orders_app.services import fill_apply
    from portfolio_app.models import Portfolio

    frames = demo.price_frames()
    original = demo.price_frames
    demo.price_frames = lambda: (frames[0].loc["2020-01-01":], frames[1].loc["2020-01-01":])
    set_clock(SteppedClock(datetime(2022, 6, 1, 15, 0, tzinfo=timezone.utc)))
    try:
        demo.demo_load()
        portfolio = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
        trader = portfolio.traders.get(username="trader")
        p = proposal_create(portfolio_id=portfolio.pk, trigger="migration test")
        p = proposal_approve(proposal_id=p.pk, actor=trader)
        for o in Order.objects.filter(proposal=p, parent__isnull=True, status__in=["SUBMITTED", "ACCEPTED"]):
            fill_apply(order_id=o.pk, report=FillReport(
                client_order_id=o.client_order_id, trade_id=f"{o.client_order_id}-1", venue="", symbol=o.instrument.symbol,
                side=Side(o.side), last_qty=o.quantity, last_px=o.arrival_px, commission=Decimal("1.00"),
                liquidity_side=LiquiditySide.TAKER, ts_event=datetime.now(timezone.utc),
            ))
    finally:
        demo.price_frames = original
        set_clock(None)


@pytest.mark.django_db(transaction=True)
def test_migrate_when_a_traded_desk_crosses_the_app_move_then_every_row_is_kept():
    from django.contrib.contenttypes.models import ContentType

    from market_app.models import Instrument
    from orders_app.models import Fill

    _trade_a_day()
    before = _counts()
    assert before["orders_app_fill"] > 0 and before["portfolio_app_position"] > 0 and before["portfolio_app_pricebar"] > 0
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()

    from ops_app.models import AlertRule

    resource_rules = AlertRule.objects.filter(kind__in=["task_age", "process_silent", "disk_free", "redis_memory",
                                                        "db_connections", "backup_stale", "rollout_slippage",
                                                        "rollout_reject_rate", "rollout_risk_breaches",
                                                        "rollout_tracking_error"]).count()  # the defaults, unless flushed
    _migrate([(app, None) for app in NEW_APPS])  # back to the layout before the move
    after = _counts()
    # Tables the new apps created themselves after the move (their own names) go with their migrations;
    # every other table, moved ones included, keeps every row.
    gone = set(before) - set(after)
    # ...and tables later migrations of other apps made go with those migrations: none held this day's rows.
    assert {t for t in gone if before[t] and not t.startswith(tuple(f"{a}_" for a in NEW_APPS))} == set()
    expected = {t: before[t] for t in after}
    # ...except the rules of the kinds ops_app 0002 and 0005 added: their reverses delete them (the older
    # release cannot evaluate them).
    expected["risk_app_alertrule"] -= resource_rules
    assert after == expected
    assert ContentType.objects.filter(app_label="portfolio_app", model="instrument").exists()

    _migrate(leaves)  # and forward again, as a deployment of this release does
    import importlib

    defaults = importlib.import_module("ops_app.migrations.0002_resource_rules_and_backups").DEFAULT_RULES \
        + importlib.import_module("ops_app.migrations.0005_rollout_stages").DEFAULT_RULES
    # Tables that went with their migrations come back empty (the history of managed objects, the versions
    # recorded since the move).
    assert _counts() == {**before, **{t: 0 for t in gone},
                         "risk_app_alertrule": before["risk_app_alertrule"] - resource_rules + len(defaults)}
    for table, app in MOVED.items():
        model = table.split("_app_", 1)[1]
        assert ContentType.objects.filter(app_label=app, model=model).exists(), table
    assert Instrument.objects.count() == before["portfolio_app_instrument"]
    assert Fill.objects.select_related("order__instrument").count() == before["orders_app_fill"]
