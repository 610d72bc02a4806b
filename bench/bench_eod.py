"""End-of-day report: what writing one costs on the demo desk after a traded day.

In one transaction that is rolled back at the end (the demo database keeps nothing): a stepped clock at
10:00 of a demo session, ``ORDERS`` market orders of the demo portfolio placed and worked to their fills
in-process (as the order tests do), the clock moved to the close; then timed, ``REPEAT`` times each:

1. the portfolio's report written (``eod_report_generate``: the book at the close, blotter, TCA, limit
   utilisation, audit rows, hash), and the desk's (every portfolio);
2. its CSV and its PDF rendered from the stored content.

Reference, measured in the same run: one valuation of the book at the close (``portfolio_book``, what the
Portfolio page does); the ratio says how many book valuations one report costs.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import datetime, timezone
from decimal import Decimal

ORDERS = 20
REPEAT = 5
MARKET_T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)
SYMBOLS = ("AAPL", "MSFT", "KO", "JNJ", "XOM", "JPM", "PG", "WMT", "CVX", "PFE")


def _median(fn, n=REPEAT) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _trade_a_day(clock, portfolio, trader) -> int:
    from orders_app import dispatch
    from orders_app.models import Fill
    from orders_app.services import order_place
    from orders_app.working import child_work, order_route

    sent: list[tuple] = []
    route, work = dispatch.route_after_commit, dispatch.work_after_commit
    dispatch.route_after_commit = lambda pid: sent.append(("route", pid))  # inside the bench's transaction: at once
    dispatch.work_after_commit = lambda cid, seq, eta=None: sent.append(("work", cid, seq))
    try:
        from market_app.models import Instrument

        symbols = [s for s in SYMBOLS if Instrument.objects.filter(symbol=s).exists()] or list(
            Instrument.objects.values_list("symbol", flat=True)[:10])
        for i in range(ORDERS):
            order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbols[i % len(symbols)],
                        side="BUY", quantity=Decimal(50 + 10 * i))
        for _ in range(60):
            batch, sent[:] = list(sent), []
            if not batch:
                clock.step(1)
                if not sent:
                    break
                continue
            for item in batch:
                if item[0] == "route":
                    order_route(parent_id=item[1])
                else:
                    child_work(child_id=item[1], seq=item[2])
            clock.step(1)
    finally:
        dispatch.route_after_commit, dispatch.work_after_commit = route, work
    return Fill.objects.filter(order__portfolio=portfolio, ts_event__lte=clock.market_now()).count()


def run() -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from ops_app import demo
    from ops_app.eod.selectors import report_csv, report_pdf
    from ops_app.eod.services import eod_report_generate
    from portfolio_app.models import Portfolio
    from portfolio_app.reports import portfolio_book

    clock = SteppedClock(MARKET_T0)
    set_clock(clock)
    figures: list[dict] = []
    try:
        with transaction.atomic():
            portfolio = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
            trader = get_user_model().objects.get(username="trader")
            fills = _trade_a_day(clock, portfolio, trader)
            close = clock.to_close()
            session = clock.last_closed_session()
            n_pf = Portfolio.objects.count()

            book_s, book = _median(lambda: portfolio_book(Portfolio.objects.get(pk=portfolio.pk), close))
            pf_s, report = _median(lambda: eod_report_generate(session=session, portfolio=portfolio))
            desk_s, _ = _median(lambda: eod_report_generate(session=session, portfolio=None))
            csv_s, csv = _median(lambda: report_csv(report))
            pdf_s, pdf = _median(lambda: report_pdf(report))
            transaction.set_rollback(True)
    finally:
        set_clock(None)
    rows = {k: len(v) for k, v in report.content["tables"].items()}
    note = (f"{fills} fills, {rows['orders']} orders, {rows['positions']} positions, {rows['limits']} limit rows; "
            f"median of {REPEAT}")
    figures += [
        {"name": "EOD report of a portfolio (write)", "value": pf_s * 1000, "unit": "ms", "ratio": pf_s / book_s,
         "ref": f"book valuation at the close {book_s * 1000:.1f} ms", "note": note},
        {"name": "EOD report of the desk (write)", "value": desk_s * 1000, "unit": "ms", "ratio": desk_s / book_s,
         "ref": "book valuation", "note": f"{n_pf} portfolios"},
        {"name": "EOD report CSV render", "value": csv_s * 1000, "unit": "ms", "note": f"{len(csv):,} bytes"},
        {"name": "EOD report PDF render (reportlab)", "value": pdf_s * 1000, "unit": "ms", "note": f"{len(pdf):,} bytes"},
    ]
    assert book.nav.quantize(Decimal("0.01")) == Decimal(report.content["summary"]["nav"])
    return figures


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for fig in run():
        print(fig)
