from django.core.management.base import BaseCommand, CommandError

from ops_app.accounts import desk_user_create
from desk.roles import ROLE_BY_SHORT_NAME


class Command(BaseCommand):
    help = "Create a desk user with a role and print their API token."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", required=True, help="one of: " + ", ".join(ROLE_BY_SHORT_NAME))
        parser.add_argument("--password", help="for people; API clients never get one")

    def handle(self, *args, name, role, password=None, **opts):
        if role not in ROLE_BY_SHORT_NAME:
            raise CommandError(f"--role: {role!r} is not a role; choose one of {', '.join(ROLE_BY_SHORT_NAME)}")
        if not name.strip():
            raise CommandError("NAME: must not be empty")
        if role != "api" and password:
            from django.contrib.auth.password_validation import validate_password
            from django.core.exceptions import ValidationError

            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError("--password: " + " ".join(exc.messages)) from exc
        user, token, created = desk_user_create(username=name, role=ROLE_BY_SHORT_NAME[role], password=password)
        self.stdout.write(f"{'created' if created else 'updated'} {user.username} ({ROLE_BY_SHORT_NAME[role]})")
        self.stdout.write(f"token: {token.key}")
