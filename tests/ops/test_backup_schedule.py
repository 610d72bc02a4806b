"""Scheduled backups: each one recorded (file, size, SHA-256, duration), retention, the task's
idempotence, and the alert when the last good backup is too old."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ops_app.alert_rules.rules import alert_rules_evaluate
from ops_app.backup import BackupError, backup_run, backups_prune
from ops_app.models import AlertRule, Backup
from risk_app.models import Alert

pytestmark = pytest.mark.django_db
K = AlertRule.Kind


@pytest.fixture
def backup_dir(tmp_path, settings):
    settings.DESK_BACKUP_DIR = tmp_path / "backups"
    settings.DESK_BACKUP_EVERY_MINUTES = 60
    settings.DESK_BACKUP_KEEP = 48
    return settings.DESK_BACKUP_DIR


def stale_alerts():
    return list(Alert.objects.filter(kind=K.BACKUP_STALE, status=Alert.Status.ACTIVE))


def test_backup_run_when_scheduled_then_file_and_record_with_size_sha256_and_duration(backup_dir):
    record = backup_run()

    path = backup_dir / record.path.rsplit("/", 1)[1]
    data = path.read_bytes()
    assert record.status == "ok" and record.trigger == "schedule" and record.path == str(path)
    assert record.size_bytes == len(data) > 0 and record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.duration_s > 0 and record.error == "" and record.pruned_at is None
    assert not list(backup_dir.glob("*.partial"))


def test_backups_prune_when_more_than_keep_then_oldest_files_deleted_and_their_rows_kept(backup_dir, settings, tmp_path):
    settings.DESK_BACKUP_KEEP = 2
    outside = backup_run(trigger="command", path=tmp_path / "mine.dump")  # the operator's file, elsewhere
    made = [backup_run() for _ in range(4)]

    on_disk = sorted(p.name for p in backup_dir.iterdir())
    assert on_disk == sorted(b.path.rsplit("/", 1)[1] for b in made[-2:])
    pruned = Backup.objects.filter(pruned_at__isnull=False).order_by("started_at", "id")
    assert [b.pk for b in pruned] == [b.pk for b in made[:2]]
    assert (tmp_path / "mine.dump").exists() and Backup.objects.get(pk=outside.pk).pruned_at is None
    assert backups_prune() == []  # nothing more to do


def test_backup_run_when_the_dump_fails_then_failed_record_with_reason_and_no_file(backup_dir, monkeypatch):
    from ops_app import backup

    def broken(*, path):
        path.write_bytes(b"half a dump")
        raise BackupError("pg_dump failed: connection refused")

    monkeypatch.setattr(backup, "backup_create", broken)
    with pytest.raises(BackupError, match="connection refused"):
        backup_run()
    [record] = Backup.objects.all()
    assert record.status == "failed" and "connection refused" in record.error and record.sha256 == ""
    assert list(backup_dir.iterdir()) == []  # the half-written file is gone


def test_backup_scheduled_when_delivered_twice_then_one_backup(backup_dir):
    from ops_app.tasks import backup_scheduled

    assert backup_scheduled() == "ok"
    assert backup_scheduled().startswith("skipped: a backup was made")
    assert Backup.objects.count() == 1 and len(list(backup_dir.iterdir())) == 1


def test_backup_scheduled_when_beat_configured_then_every_interval_on_the_default_queue():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["backup"]
    assert entry["task"] == "ops_app.tasks.backup_scheduled" and entry["schedule"] == 60 * 60
    assert settings.DESK_BACKUP_KEEP == 48


def test_backup_stale_when_last_good_older_than_twice_the_interval_then_raised_and_next_backup_resolves_it(backup_dir):
    first = backup_run()
    done = first.started_at + timedelta(seconds=first.duration_s)
    alert_rules_evaluate(kinds=[K.BACKUP_STALE], now=(done + timedelta(minutes=119)).timestamp())
    assert stale_alerts() == []
    Backup.objects.create(status="failed", vendor="x", path="/nowhere", started_at=timezone.now(), error="disk full")
    alert_rules_evaluate(kinds=[K.BACKUP_STALE], now=(done + timedelta(minutes=121)).timestamp())
    [a] = stale_alerts()
    assert a.severity == "critical" and "Last good backup is 2 h 01 min old" in a.message and first.path in a.message
    assert a.value == pytest.approx(2.02, abs=0.01)

    backup_run()
    alert_rules_evaluate(kinds=[K.BACKUP_STALE])
    assert stale_alerts() == []


def test_backup_stale_when_never_backed_up_then_counted_from_the_rule_and_says_why(backup_dir):
    rule = AlertRule.objects.get(kind=K.BACKUP_STALE)
    alert_rules_evaluate(kinds=[K.BACKUP_STALE])
    assert stale_alerts() == []
    later = rule.created_at + timedelta(hours=3)
    Backup.objects.create(status="failed", vendor="x", path="/nowhere", started_at=later - timedelta(minutes=1), error="pg_dump: no space")
    alert_rules_evaluate(kinds=[K.BACKUP_STALE], now=later.timestamp() + 7300)
    [a] = stale_alerts()
    assert a.message.startswith("No good backup in the 2 h") and "pg_dump: no space" in a.message


def test_backup_stale_when_no_schedule_then_never_raised(backup_dir, settings):
    settings.DESK_BACKUP_EVERY_MINUTES = 0
    alert_rules_evaluate(kinds=[K.BACKUP_STALE], now=time.time() + 10 * 86400)
    assert stale_alerts() == []


def test_backup_command_when_run_then_recorded_as_command(backup_dir, tmp_path):
    from django.core.management import call_command

    call_command("backup", str(tmp_path / "by-hand.dump"))
    [record] = Backup.objects.all()
    assert record.trigger == "command" and record.status == "ok" and record.path == str(tmp_path / "by-hand.dump")


def test_monitoring_page_when_backups_made_then_last_backup_and_its_age_shown(backup_dir, client, trader):
    record = backup_run()
    client.force_login(trader)
    body = client.get("/monitoring/").content.decode()
    assert "Last good backup" in body and record.sha256[:12] in body and record.path.rsplit("/", 1)[1] in body
    data = client.get("/monitoring/data/").json()["backups"]
    assert data["last"]["sha256"] == record.sha256 and 0 <= data["age_s"] < 60 and data["recent"][0]["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_restore_into_when_drilled_then_another_database_holds_the_backup_and_the_desks_is_untouched(backup_dir, tmp_path, portfolio):
    import uuid

    from django.core.management import call_command
    from django.db import connection

    from portfolio_app.models import Portfolio

    record = backup_run()
    Portfolio.objects.create(name="After the backup", cash="1.00")
    if connection.vendor == "sqlite":
        import sqlite3

        into = str(tmp_path / "drill.sqlite3")
        call_command("restore", record.path, into=into)
        with sqlite3.connect(into) as con:
            names = {n for (n,) in con.execute("SELECT name FROM portfolio_app_portfolio")}
    else:
        import psycopg

        into = f"{connection.settings_dict['NAME']}_drill_{uuid.uuid4().hex[:6]}"
        with connection.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{into}"')
        try:
            call_command("restore", record.path, into=into)
            s = connection.settings_dict
            with psycopg.connect(host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432, user=s.get("USER") or None,
                                 password=s.get("PASSWORD") or None, dbname=into) as con:
                names = {n for (n,) in con.execute("SELECT name FROM portfolio_app_portfolio")}
        finally:
            with connection.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{into}"')
    assert names == {"Test Book"}
    assert set(Portfolio.objects.values_list("name", flat=True)) == {"Test Book", "After the backup"}
