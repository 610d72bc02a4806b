"""Backups and restores of the desk's database.

- SQLite: the online backup API (a consistent copy while the desk runs; WAL included).
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists
  --single-transaction``, so a failed restore leaves the database as it was.

Redis holds nothing that must survive (queues are re-filled by the sweeper from
the orders in the database; sequence numbers only need to increase), so only the
database is backed up. See docs/runbook.md.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection


class BackupError(RuntimeError):
    pass


def _pg_env_and_args() -> tuple[dict, list[str]]:
    s = connection.settings_dict
    env = dict(os.environ)
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = str(s["PASSWORD"])
    args = ["-h", s.get("HOST") or "127.0.0.1", "-p", str(s.get("PORT") or 5432)]
    if s.get("USER"):
        args += ["-U", s["USER"]]
    return env, args


def backup_create(*, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        dest = sqlite3.connect(str(path))
        try:
            connection.connection.backup(dest)
        finally:
            dest.close()
        return path
    if connection.vendor == "postgresql":
        env, args = _pg_env_and_args()
        cmd = ["pg_dump", "--format=custom", "--no-owner", "--file", str(path), *args, connection.settings_dict["NAME"]]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        return path
    raise BackupError(f"backups are not implemented for {connection.vendor}")


def backup_restore(*, path: Path) -> None:
    path = Path(path)
    if not path.exists():
        raise BackupError(f"{path}: no such backup file")
    if connection.vendor == "sqlite":
        src = sqlite3.connect(str(path))
        try:
            connection.ensure_connection()
            src.backup(connection.connection)
        finally:
            src.close()
        return
    if connection.vendor == "postgresql":
        connection.close()  # pg_restore needs the tables unlocked
        env, args = _pg_env_and_args()
        cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", *args,
               "--dbname", connection.settings_dict["NAME"], str(path)]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
        return
    raise BackupError(f"restores are not implemented for {connection.vendor}")
