"""Desk-wide limits: the pre-trade gate with and without them, on a desk of 100 and of 10,000 positions.

The gate checks a stored order of a 20-position portfolio (``pre_trade_check`` with the portfolio row
locked, as ``order_submit`` calls it; the order insert and everything the check writes are rolled
back each time, so the desk stays as set up).  Three runs: the bench portfolio's own limits only;
plus desk-wide gross, net, daily-loss and order-rate limits over a desk whose other portfolios hold
100 positions; the same over 10,000 positions (100 portfolios x 100).  The critical section under
the desk row lock reads and writes one row per desk book and the portfolio's part, so the desk's size
must not show: the two desk-wide figures should match.  ``desk_section`` is the time spent in
``risk_app.desk_book`` per check (read and lock the rows, then write them).

The bench's desk limits name its own portfolios (``params.portfolios``), so the desk's real
portfolios are neither measured nor serialised by them.  Everything the run creates is deleted.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from decimal import Decimal as D

from django.db import connection, reset_queries, transaction
from django.test.utils import CaptureQueriesContext

N_CHECKS = 500
N_SYMBOLS = 100
OWN_POSITIONS = 20
SIZES = (100, 10_000)  # positions held by the rest of the desk
PER_BOOK = 100


class _Timer:
    """Time spent inside the desk book's gate functions (wrapped for the run, restored after)."""

    def __init__(self):
        self.total = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - t0

        return timed


def _setup(tag: int):
    from desk import roles
    from market_app.clock import get_clock
    from market_app.models import Instrument, PriceBar
    from ops_app.accounts import desk_user_create
    from portfolio_app.models import Portfolio, Position

    officer, _, _ = desk_user_create(username=f"bench-desk-{tag}", role=roles.RISK_OFFICER, password="bench-password-123")
    end = get_clock().market_date()
    symbols = [f"BD{tag % 10**6}{i:03d}" for i in range(N_SYMBOLS)]
    insts = Instrument.objects.bulk_create([Instrument(symbol=s, sector=f"S{i % 5}", adv=1_000_000) for i, s in enumerate(symbols)])
    PriceBar.objects.bulk_create([PriceBar(instrument=inst, date=end - timedelta(days=d), close=D(100 + (i + d) % 7))
                                  for i, inst in enumerate(insts) for d in range(5)], batch_size=5000)
    own = Portfolio.objects.create(name=f"bench-desk-{tag}", cash=D("50000000.00"), long_short=True)
    Position.objects.bulk_create([Position(portfolio=own, instrument=inst, quantity=D(1000), avg_cost=D(100))
                                  for inst in insts[:OWN_POSITIONS]])
    return officer, own, insts, symbols


def _desk(tag: int, insts, positions: int):
    """The rest of the desk: ``positions`` held across portfolios of ``PER_BOOK`` positions each."""
    from portfolio_app.models import Portfolio, Position

    books = [Portfolio.objects.create(name=f"bench-desk-{tag}-{positions}-{k}", cash=D("10000000.00"), long_short=True)
             for k in range(max(1, positions // PER_BOOK))]
    Position.objects.bulk_create([Position(portfolio=pf, instrument=inst, quantity=D(100 + k % 9), avg_cost=D(100))
                                  for k, pf in enumerate(books) for inst in insts[:PER_BOOK]], batch_size=5000)
    return books


def _limits(officer, portfolio_ids: list[int], tag: str):
    from risk_app import checks as K
    from risk_app import services

    params = {"portfolios": portfolio_ids}
    spec = [(K.MAX_GROSS_EXPOSURE, "1000000000000", {}), (K.MAX_NET_EXPOSURE, "100", {}),
            (K.MAX_DAILY_LOSS, "1000000000", {}), (K.MAX_ORDER_RATE, "1000000", {"window_s": 1})]
    return [services.limit_create(actor=officer, reason="bench", name=f"bench desk {kind} {tag}", scope="desk", kind=kind,
                                  threshold=thr, params={**params, **extra}) for kind, thr, extra in spec]


def _own_limits(officer, own):
    from risk_app import checks as K
    from risk_app import services

    for kind, thr in ((K.MAX_ORDER_QTY, "100000"), (K.MAX_POSITION_NOTIONAL, "50000000"), (K.MAX_GROSS_EXPOSURE, "1000000000")):
        services.limit_create(actor=officer, reason="bench", name=f"bench own {kind}", scope="portfolio",
                              scope_key=str(own.pk), kind=kind, threshold=thr)


def _run(own, insts, label: str) -> dict:
    from desk.interfaces import OrderIntent, Side
    from orders_app.services import order_create
    from portfolio_app.models import Portfolio
    from risk_app import desk_book
    from risk_app.services import pre_trade_check, pretrade

    timer = _Timer()
    sections: list[float] = []
    originals = (desk_book.DeskGate.close, pretrade.desk_gate_open)
    desk_book.DeskGate.close = timer.wrap(originals[0])
    pretrade.desk_gate_open = timer.wrap(originals[1])

    def one(i: int, timed: list | None = None):
        with transaction.atomic():
            Portfolio.objects.select_for_update().get(pk=own.pk)
            inst = insts[i % OWN_POSITIONS]
            coid = f"bench-desk-{own.pk}-{i}-{time.time_ns()}"
            order_create(client_order_id=coid, portfolio_id=own.pk, instrument_id=inst.pk,
                         side="BUY" if i % 2 else "SELL", quantity=D(10 + i % 50))
            intent = OrderIntent(own.pk, inst.symbol, Side.BUY if i % 2 else Side.SELL, D(10 + i % 50), client_order_id=coid)
            timer.total = 0.0
            t0 = time.perf_counter()
            v = pre_trade_check(portfolio_id=own.pk, intents=[intent], alerts=False)[0]
            if timed is not None:
                timed.append(time.perf_counter() - t0)
                sections.append(timer.total)
            transaction.set_rollback(True)  # the desk stays as set up
        return v

    try:
        for i in range(20):
            one(i)
        reset_queries()
        with CaptureQueriesContext(connection) as q:
            one(0)
        times: list[float] = []
        for i in range(N_CHECKS):
            v = one(i, times)
    finally:
        desk_book.DeskGate.close, pretrade.desk_gate_open = originals
    assert v.passed, v.reasons
    p50, p99 = statistics.median(times) * 1e3, sorted(times)[int(0.99 * (len(times) - 1))] * 1e3
    return {"label": label, "p50": p50, "p99": p99, "section": statistics.median(sections) * 1e3,
            "queries": len(q.captured_queries)}


def _cleanup(tag: int, officer, symbols):
    from market_app.models import Instrument, PriceBar
    from orders_app.models import Order
    from portfolio_app.models import Portfolio, Position
    from risk_app.models import DeskExposurePart, RiskCheck, RiskLimit
    from risk_app.services import limits_version_bump

    with transaction.atomic():
        ids = list(RiskLimit.objects.filter(requested_by=officer).values_list("id", flat=True))
        RiskLimit.objects.filter(id__in=ids).delete()
        RiskLimit.history.filter(id__in=ids).delete()
        limits_version_bump()  # drops the bench's desk books
        pfs = list(Portfolio.objects.filter(name__startswith=f"bench-desk-{tag}").values_list("id", flat=True))
        RiskCheck.objects.filter(portfolio_id__in=pfs).delete()
        Order.objects.filter(portfolio_id__in=pfs).delete()
        DeskExposurePart.objects.filter(portfolio_id__in=pfs).delete()
        Position.objects.filter(portfolio_id__in=pfs).delete()
        Portfolio.objects.filter(id__in=pfs).delete()
        PriceBar.objects.filter(instrument__symbol__in=symbols).delete()
        Instrument.objects.filter(symbol__in=symbols).delete()
    officer.delete()


def run():
    from risk_app.models import RiskLimit
    from risk_app.services import limits_version_bump

    tag = time.time_ns()
    officer, own, insts, symbols = _setup(tag)
    runs = []
    try:
        _own_limits(officer, own)
        runs.append(_run(own, insts, "no desk limits"))
        for size in SIZES:
            books = _desk(tag, insts, size)
            t0 = time.perf_counter()
            made = _limits(officer, [own.pk, *(b.pk for b in books)], str(size))
            built_s = time.perf_counter() - t0
            runs.append({**_run(own, insts, f"desk limits, desk of {size:,} positions"), "built_s": built_s})
            with transaction.atomic():  # bench limits only: removed directly (bench cleanup is not a desk change)
                RiskLimit.objects.filter(pk__in=[lim.pk for lim in made]).delete()
                limits_version_bump()
    finally:
        _cleanup(tag, officer, symbols)
    base = runs[0]["p50"]
    figures = []
    for r in runs:
        note = (f"{r['label']}; p99 {r['p99']:.2f} ms; desk section p50 {r['section']:.3f} ms; "
                f"{r['queries']} queries incl. order insert; {connection.vendor}")
        if "built_s" in r:
            note += f"; desk book built in {r['built_s']:.2f} s with the limits"
        figures.append({"name": f"risk.desk_gate_p50[{r['label']}]", "value": r["p50"], "unit": "ms",
                        "ref": "no desk limits", "ratio": round(r["p50"] / base, 3), "note": note})
    return figures

