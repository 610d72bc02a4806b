"""``manage.py fix_gateway``: the FIX gateway process (a Procfile entry; see fix_app.gateway)."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the FIX gateway: one QuickFIX initiator with a session per enabled FIX venue, draining the outbox."

    def handle(self, *args, **options):
        from fix_app.gateway import run_gateway

        run_gateway()
