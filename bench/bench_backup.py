"""Backup and restore times of the desk's database as it is (``make bench`` loads the demo).

1. ``backup_run`` (what the schedule runs): pg_dump --format=custom or SQLite's online
   backup, then the SHA-256 of the file. Its size and MB/s.
2. A restore of that file into a scratch database of the same server (``manage.py restore
   FILE --into NAME``; SQLite: a scratch file), so the bench never touches the desk's own data;
   the scratch copy's orders, fills, positions and limits are counted against the desk's.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

TABLES = ("orders_app.Order", "orders_app.Fill", "portfolio_app.Position", "risk_app.RiskLimit")


def _counts(cursor) -> dict[str, int]:
    from django.apps import apps

    out = {}
    for label in TABLES:
        cursor.execute(f'SELECT COUNT(*) FROM "{apps.get_model(label)._meta.db_table}"')
        out[label] = cursor.fetchone()[0]
    return out


def _restore_into_scratch(path: Path, workdir: Path) -> tuple[float, dict[str, int]]:
    from django.db import connection

    from ops_app.backup import backup_restore

    if connection.vendor == "sqlite":
        scratch = workdir / "scratch.sqlite3"
        t0 = time.perf_counter()
        backup_restore(path=path, into=str(scratch))
        took = time.perf_counter() - t0
        con = sqlite3.connect(str(scratch))
        try:
            return took, _counts(con.cursor())
        finally:
            con.close()
    import psycopg

    name = f"{connection.settings_dict['NAME']}_drill_{uuid.uuid4().hex[:6]}"
    with connection.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        t0 = time.perf_counter()
        backup_restore(path=path, into=name)
        took = time.perf_counter() - t0
        s = connection.settings_dict
        with psycopg.connect(host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432, user=s.get("USER") or None,
                             password=s.get("PASSWORD") or None, dbname=name) as con:
            return took, _counts(con.cursor())
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def run() -> list[dict]:
    from django.conf import settings
    from django.db import connection

    from ops_app.backup import backup_run
    from ops_app.models import Backup

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        workdir = Path(tmp)
        old_dir = settings.DESK_BACKUP_DIR
        settings.DESK_BACKUP_DIR = workdir / "backups"
        try:
            record = backup_run(trigger="bench")
        finally:
            settings.DESK_BACKUP_DIR = old_dir
        try:
            with connection.cursor() as cur:
                live = _counts(cur)
            restore_s, restored = _restore_into_scratch(Path(record.path), workdir)
        finally:
            Backup.objects.filter(pk=record.pk).delete()  # the bench's file goes with its directory
    mb = record.size_bytes / 2**20
    rows = ", ".join(f"{k.split('.')[1].lower()}s {v}" for k, v in live.items())
    same = "equal" if restored == live else f"DIFFERENT: {restored}"
    return [
        {"name": "backup (scheduled backup_run)", "value": record.duration_s, "unit": "s",
         "note": f"{connection.vendor}, {mb:.1f} MB file ({mb / record.duration_s:.1f} MB/s incl. SHA-256); {rows}"},
        {"name": "restore into a scratch database", "value": restore_s, "unit": "s",
         "note": f"{'pg_restore --single-transaction' if connection.vendor == 'postgresql' else 'SQLite backup API'}; "
                 f"restored row counts {same}"},
    ]


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for fig in run():
        print(fig)
