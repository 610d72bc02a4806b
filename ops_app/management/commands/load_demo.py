from django.core.management.base import BaseCommand

from ops_app.demo import demo_load


class Command(BaseCommand):
    help = ("Load the demo data (idempotent): 20 S&P 500 stocks 1990-2022, the index, venues, users, Core Equity "
            "with its history before the clock's start and a proposal to approve.")

    def add_arguments(self, parser):
        parser.add_argument("--no-prices", action="store_true", help="skip the price history")
        parser.add_argument("--fix-port", type=int, default=None,
                            help="also the demo's FIX venue FIX-A, its session on 127.0.0.1:PORT (make run starts it)")
        parser.add_argument("--no-history", action="store_true",
                            help="skip Core Equity's past (the sessions before the clock's start, traded by the "
                                 "backtest engine) and the opening proposal")

    def handle(self, *args, **opts):
        history = not opts["no_history"] and not opts["no_prices"]
        result = demo_load(with_prices=not opts["no_prices"], fix_port=opts["fix_port"], history=history)
        self.stdout.write(
            f"demo data: {result.instruments_created} instruments and {result.bars_created} price bars added "
            "(0 and 0 when already loaded)"
        )
        h = result.history
        if h is not None and not h.skipped:
            self.stdout.write(
                f"history: {h.sessions} sessions traded by backtest run #{h.run_id}: {h.orders} orders, {h.fills} fills, "
                f"{h.nav_snapshots} NAV snapshots in {h.elapsed_s:.1f}s; proposal #{result.proposal_id} awaits a trader"
            )
