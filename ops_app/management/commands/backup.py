from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ops_app.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Back up the database (SQLite online backup or pg_dump) to FILE (default var/backups/desk-<time>)."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?")

    def handle(self, *args, file=None, **opts):
        path = Path(file) if file else settings.VAR_DIR / "backups" / f"desk-{timezone.now():%Y%m%dT%H%M%SZ}.dump"
        try:
            backup_create(path=path)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"backup written to {path}")
