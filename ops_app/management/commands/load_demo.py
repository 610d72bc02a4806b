from django.core.management.base import BaseCommand

from ops_app.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo data (idempotent): 20 S&P 500 stocks 1990-2022, the index, venues, users, Core Equity."

    def add_arguments(self, parser):
        parser.add_argument("--no-prices", action="store_true", help="skip the price history")
        parser.add_argument("--fix-port", type=int, default=None,
                            help="also the demo's FIX venue FIX-A, its session on 127.0.0.1:PORT (make run starts it)")

    def handle(self, *args, **opts):
        result = demo_load(with_prices=not opts["no_prices"], fix_port=opts["fix_port"])
        self.stdout.write(
            f"demo data: {result.instruments_created} instruments and {result.bars_created} price bars added "
            "(0 and 0 when already loaded)"
        )
