"""Backups and restores of the desk's database.

- SQLite: the online backup API (a consistent copy while the desk runs; WAL included).
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists
  --single-transaction``, so a failed restore leaves the database as it was.

Redis holds nothing that must survive (queues are re-filled by the sweeper from
the orders in the database; sequence numbers only need to increase), so only the
database is backed up. See docs/runbook.md.

``backup_run`` is what the schedule (``ops_app.tasks.backup_scheduled``, every
``DESK_BACKUP_EVERY_MINUTES``) and ``manage.py backup`` call: the dump is written to a
``.partial`` file and renamed when complete, its size and SHA-256 recorded in a ``Backup``
row (a failure too, with its reason), and retention keeps the newest ``DESK_BACKUP_KEEP``
files of ``DESK_BACKUP_DIR``. The ``backup_stale`` alert rule reads the last good one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

log = logging.getLogger(__name__)


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
        # From a connection of its own: it reads the last committed state (WAL) whatever the
        # caller's connection is doing; from a connection inside a write transaction the
        # backup API answers BUSY forever.
        src = sqlite3.connect(str(connection.settings_dict["NAME"]), timeout=20)
        dest = sqlite3.connect(str(path))
        try:
            src.backup(dest)
        finally:
            dest.close()
            src.close()
        return path
    if connection.vendor == "postgresql":
        env, args = _pg_env_and_args()
        cmd = ["pg_dump", "--format=custom", "--no-owner", "--file", str(path), *args, connection.settings_dict["NAME"]]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        return path
    raise BackupError(f"backups are not implemented for {connection.vendor}")


def backup_restore(*, path: Path, into: str | None = None) -> None:
    """Replace the desk's database with the backup at ``path``; or, with ``into``, fill another
    database (PostgreSQL: an existing database of the same server; SQLite: a file) and leave the
    desk's alone: a drill that proves a backup restores without touching production."""
    path = Path(path)
    if not path.exists():
        raise BackupError(f"{path}: no such backup file")
    if into is None and connection.in_atomic_block:
        raise BackupError("a restore replaces the whole database: run it outside any transaction")
    if connection.vendor == "sqlite":
        src = sqlite3.connect(str(path))
        try:
            if into is not None:
                dest = sqlite3.connect(str(into))
                try:
                    src.backup(dest)
                finally:
                    dest.close()
            else:
                connection.ensure_connection()
                src.backup(connection.connection)
        finally:
            src.close()
        return
    if connection.vendor == "postgresql":
        if into is None:
            connection.close()  # pg_restore needs the tables unlocked
        env, args = _pg_env_and_args()
        cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", *args,
               "--dbname", into or connection.settings_dict["NAME"], str(path)]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
        return
    raise BackupError(f"restores are not implemented for {connection.vendor}")


# --- Scheduled backups: the record, retention, staleness ----------------------------------


def backup_dir() -> Path:
    return Path(getattr(settings, "DESK_BACKUP_DIR", settings.VAR_DIR / "backups"))


def interval_seconds() -> float:
    """The schedule's interval (0: no schedule)."""
    return float(getattr(settings, "DESK_BACKUP_EVERY_MINUTES", 60)) * 60


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _new_path(started: datetime) -> Path:
    ext = "sqlite3" if connection.vendor == "sqlite" else "dump"
    stem = f"desk-{started:%Y%m%dT%H%M%S}Z"
    path, n = backup_dir() / f"{stem}.{ext}", 1
    while path.exists():
        n += 1
        path = backup_dir() / f"{stem}-{n}.{ext}"
    return path


def backup_run(*, trigger: str = "schedule", path: Path | None = None):
    """Back up now and record it: a ``Backup`` row with the file, its size, SHA-256 and duration.

    A failure is recorded too (``status=failed`` with the reason) and raised as ``BackupError``.
    The file appears under its name only once complete. Then retention (``backups_prune``).
    """
    from ops_app.models import Backup

    started = timezone.now()
    path = Path(path) if path else _new_path(started)
    partial = path.with_name(path.name + ".partial")
    t0 = time.perf_counter()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backup_create(path=partial)
        sha, size = file_sha256(partial)
        os.replace(partial, path)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, BackupError) else str(exc)
        Backup.objects.create(status=Backup.Status.FAILED, trigger=trigger, vendor=connection.vendor, path=str(path),
                              started_at=started, duration_s=time.perf_counter() - t0, error=error[:2000])
        log.error("backup failed", extra={"path": str(path), "error": error})
        raise BackupError(error) from exc
    record = Backup.objects.create(status=Backup.Status.OK, trigger=trigger, vendor=connection.vendor, path=str(path),
                                   size_bytes=size, sha256=sha, started_at=started, duration_s=time.perf_counter() - t0)
    log.info("backup written", extra={"path": str(path), "bytes": size, "seconds": round(record.duration_s, 3)})
    backups_prune()
    return record


def backups_prune(*, keep: int | None = None) -> list[str]:
    """Delete the files of good backups in ``DESK_BACKUP_DIR`` beyond the newest ``keep``
    (``DESK_BACKUP_KEEP``); their rows stay, marked ``pruned_at``. Files elsewhere (a path
    given to ``manage.py backup``) are the operator's and never deleted."""
    from ops_app.models import Backup

    keep = int(getattr(settings, "DESK_BACKUP_KEEP", 48) if keep is None else keep)
    root = backup_dir().resolve()
    mine = [b for b in Backup.objects.filter(status=Backup.Status.OK, pruned_at__isnull=True).order_by("-started_at", "-id")
            if Path(b.path).resolve().parent == root]
    pruned = []
    for b in mine[max(keep, 0):]:
        Path(b.path).unlink(missing_ok=True)
        b.pruned_at = timezone.now()
        b.save(update_fields=["pruned_at"])
        pruned.append(b.path)
    return pruned


def backup_last_good():
    from ops_app.models import Backup

    return Backup.objects.filter(status=Backup.Status.OK).order_by("-started_at", "-id").first()


def backups_recent(limit: int = 10) -> list:
    from ops_app.models import Backup

    return list(Backup.objects.order_by("-started_at", "-id")[:limit])


def backup_age(*, now: datetime | None = None) -> dict:
    """The last good backup and its age (seconds since it was complete), with the schedule's interval."""
    now = now or timezone.now()
    last = backup_last_good()
    done = last.started_at + timedelta(seconds=last.duration_s or 0) if last else None
    return {"last": last, "age_s": (now - done).total_seconds() if done else None, "interval_s": interval_seconds()}


def backup_scheduled_run() -> str:
    """The schedule's backup. Safe to run twice: one backup at a time desk-wide (a Redis lock), and
    a message delivered again soon after a good backup (a redelivery, two beats) finds it recent and
    does nothing. A failure is recorded (``backup_run``) and reported as ``failed``: the
    ``backup_stale`` rule says when it matters."""
    from desk.redis import get_redis

    age = backup_age()
    if age["age_s"] is not None and age["age_s"] < age["interval_s"] / 2:
        return "skipped: a backup was made %.0f s ago" % age["age_s"]
    lock, token = "ops:backup:lock", str(time.time())
    if not get_redis().set(lock, token, nx=True, ex=3600):
        return "skipped: another backup is running"
    try:
        backup_run(trigger="schedule")
        return "ok"
    except BackupError:
        return "failed"
    finally:
        if get_redis().get(lock) == token.encode():
            get_redis().delete(lock)
