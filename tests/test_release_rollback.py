"""Release rollback: a traded desk migrates back to the previous release's migration state and
forward again, so every migration since that release is reversible and keeps the rows that
both releases have (docs/runbook.md, "Roll back a release")."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

# The previous release: commit 3f9286e ("Portfolio services' docstring says what lives there
# now"), the last release landed before this one. Its latest migration of each of the desk's
# apps (`git ls-tree 3f9286e <app>/migrations/`); an app absent here had none then ("zero").
# Move this map forward with each release.
PREVIOUS_RELEASE = {
    "market_app": "0001_initial",
    "signals_app": "0001_initial",
    "portfolio_app": "0004_proposal_risk_report_and_provenance",
    "orders_app": "0005_routingdecision_attempts",
    "risk_app": "0005_limit_change_expired",
    "execution_app": "0004_agents_signals_clock_moved_out",
    "ops_app": "0001_initial",
}
# Top layer first (.importlinter): an app's migrations are unapplied before those they depend on.
DESK_APPS = ("ops_app", "execution_app", "fix_app", "risk_app", "orders_app", "portfolio_app", "signals_app", "market_app")
KEPT = ("orders_app.Order", "orders_app.Fill", "portfolio_app.Position", "portfolio_app.Portfolio", "risk_app.RiskLimit",
        "market_app.Instrument")


def _graph():
    executor = MigrationExecutor(connection)
    return executor.loader


def _applied() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        if app in DESK_APPS:
            out.setdefault(app, set()).add(name)
    return out


def _expected_at(targets: dict[str, str | None]) -> dict[str, set[str]]:
    """Every migration of the desk's apps that the given per-app targets imply (their ancestors)."""
    graph = _graph().graph
    nodes: set[tuple[str, str]] = set()
    for app, name in targets.items():
        if name is not None:
            nodes |= set(graph.forwards_plan((app, name)))
    out: dict[str, set[str]] = {}
    for app, name in nodes:
        if app in DESK_APPS:
            out.setdefault(app, set()).add(name)
    return out


def _counts() -> dict[str, int]:
    from django.apps import apps

    with connection.cursor() as cur:  # raw SQL: the models' current state may not be the tables' during the test
        out = {}
        for label in KEPT:
            cur.execute(f'SELECT COUNT(*) FROM "{apps.get_model(label)._meta.db_table}"')
            out[label] = cur.fetchone()[0]
    return out


@pytest.mark.django_db(transaction=True)
def test_migrate_when_rolled_back_to_the_previous_release_and_forward_then_every_migration_reverses_and_rows_kept():
    from tests.test_migrations import _trade_a_day

    loader = _graph()
    migrated = {app for app in DESK_APPS if app in loader.migrated_apps}
    leaves = {app: name for app, name in loader.graph.leaf_nodes() if app in migrated}
    since = {(a, n) for a, ns in _applied().items() for n in ns} - {
        (a, n) for a, ns in _expected_at(PREVIOUS_RELEASE).items() for n in ns}
    assert since, "no migration since the previous release: move PREVIOUS_RELEASE forward"
    _trade_a_day()
    before = _counts()
    assert before["orders_app.Fill"] > 0 and before["portfolio_app.Position"] > 0 and before["risk_app.RiskLimit"] > 0

    try:
        for app in DESK_APPS:  # back, as the runbook does it, one app at a time
            if app in migrated:
                call_command("migrate", app, PREVIOUS_RELEASE.get(app, "zero"), verbosity=0)
        assert _applied() == _expected_at(PREVIOUS_RELEASE)
        assert _counts() == before
    finally:
        call_command("migrate", verbosity=0)  # forward again, as the new release's deployment does

    assert _applied() == _expected_at(leaves)
    assert _counts() == before
    assert not MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
