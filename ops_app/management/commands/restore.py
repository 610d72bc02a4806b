from django.core.management.base import BaseCommand, CommandError

from ops_app.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = "Restore the database from a backup FILE (replaces the current contents). Stop the desk first."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--into", help="restore into this other database (PostgreSQL: an existing database on the same "
                                           "server; SQLite: a file) and leave the desk's alone: a restore drill")

    def handle(self, *args, file, yes=False, into=None, **opts):
        if into:
            try:
                backup_restore(path=file, into=into)
            except BackupError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"restored {file} into {into}")
            return
        if not yes:
            answer = input(f"Replace the database with {file}? Type 'restore' to continue: ")
            if answer.strip() != "restore":
                raise CommandError("restore cancelled: nothing changed")
        try:
            backup_restore(path=file)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"restored from {file}")
