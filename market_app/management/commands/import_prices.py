"""``manage.py import_prices FILE``: daily closes from a ``symbol,date,close`` CSV, all or nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from market_app.prices import PriceImportError, price_bars_import, rows_from_csv

SHOWN = 20


class Command(BaseCommand):
    help = "Import daily closes from a CSV with columns symbol,date,close (ISO dates). Nothing is stored if any row is bad."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file, or - for standard input")
        parser.add_argument("--create-instruments", action="store_true", help="create unknown symbols as tradable equities")

    def handle(self, *args, file: str, create_instruments: bool = False, **options):
        if file == "-":
            import sys

            text = sys.stdin.read()
        else:
            path = Path(file)
            if not path.is_file():
                raise CommandError(f"{file}: no such file")
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as e:
                raise CommandError(f"{file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        rows, errors = rows_from_csv(text)
        try:
            result = price_bars_import(rows=rows, errors=errors, create_instruments=create_instruments)
        except PriceImportError as e:
            shown = "\n".join(f"  {err}" for err in e.errors[:SHOWN])
            more = f"\n  … and {len(e.errors) - SHOWN} more" if len(e.errors) > SHOWN else ""
            raise CommandError(f"{file}: {len(e.errors)} bad row(s), nothing imported:\n{shown}{more}") from None
        self.stdout.write(
            f"Imported {result.rows} closes for {len(result.symbols)} instrument(s): "
            f"{result.created} new, {result.updated} updated, {result.instruments} instrument(s) created."
        )
