"""``manage desk_book_refresh``: build and re-mark the desk books now (beat does it every DESK_BOOK_REFRESH_SECONDS)."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Build the desk books desk-wide limits need and re-mark them from the whole book."

    def handle(self, *args, **options):
        from risk_app.desk_book import desk_book_refresh

        n = desk_book_refresh()
        self.stdout.write(f"desk books re-marked from {n} portfolio(s)")
