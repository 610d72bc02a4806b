from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops_app.backup import BackupError, backup_run


class Command(BaseCommand):
    help = ("Back up the database (SQLite online backup or pg_dump) to FILE (default DESK_BACKUP_DIR/desk-<time>), "
            "recorded with its size and SHA-256 on the Monitoring page.")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?")

    def handle(self, *args, file=None, **opts):
        try:
            record = backup_run(trigger="command", path=Path(file) if file else None)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"backup written to {record.path} ({record.size_bytes} bytes, sha256 {record.sha256}, "
                          f"{record.duration_s:.2f} s)")
