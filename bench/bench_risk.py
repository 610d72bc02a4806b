"""Risk through the Django layer: pre_trade_check per order (DB snapshot + cached engine), and the
kill switch - time from HALTED committed to the last Celery worker (real subprocesses) refusing orders.

Everything runs on a bench-only portfolio and instruments, with portfolio- and instrument-scoped
limits, and the HALT is on that portfolio's scope: the desk's own limits and state are left alone.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal as D

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

N_CHECKS = 400
N_SYMBOLS = 20
WORKERS = 2
KILL_GOAL_S = 1.0


def _setup():
    from desk import roles
    from ops_app.accounts import desk_user_create
    from market_app.clock import get_clock
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import Portfolio, Position
    from risk_app import checks as K
    from risk_app import services

    tag = time.time_ns()
    officer, _, _ = desk_user_create(username=f"bench-risk-{tag}", role=roles.RISK_OFFICER, password="bench-password-123")
    pf = Portfolio.objects.create(name=f"bench-risk-{tag}", cash=D("50000000.00"), long_short=True)
    end = get_clock().market_date()
    symbols = [f"BR{tag % 10**6}{i:02d}" for i in range(N_SYMBOLS)]
    insts = Instrument.objects.bulk_create([Instrument(symbol=s, sector=f"S{i % 4}", adv=1_000_000) for i, s in enumerate(symbols)])
    bars = [PriceBar(instrument=inst, date=end - timedelta(days=d), close=D(100 + (i + d) % 7))
            for i, inst in enumerate(insts) for d in range(300)]
    PriceBar.objects.bulk_create(bars, batch_size=5000)
    Position.objects.bulk_create([Position(portfolio=pf, instrument=inst, quantity=D(1000), avg_cost=D(100)) for inst in insts])
    pid = str(pf.pk)
    spec = [
        (K.MAX_ORDER_QTY, "100000"), (K.MAX_ORDER_NOTIONAL, "5000000"), (K.PRICE_COLLAR_PCT, "10"),
        (K.DUPLICATE_WINDOW_S, "1"), (K.MAX_POSITION_NOTIONAL, "5000000"), (K.MAX_GROSS_EXPOSURE, "60000000"),
        (K.MAX_NET_EXPOSURE, "1.5"), (K.MAX_LEVERAGE, "2"), (K.MAX_CONCENTRATION, "0.2"),
        (K.MAX_SECTOR_CONCENTRATION, "0.6"), (K.MAX_DAILY_LOSS, "1000000"), (K.MAX_DRAWDOWN, "0.3"),
        (K.MAX_ORDER_RATE, "1000"), (K.MAX_VAR_95, "5000000"),
    ]
    limits = [("portfolio", pid, k, t) for k, t in spec]
    limits += [("instrument", s, K.MAX_POSITION_NOTIONAL, "3000000") for s in symbols[:11]]  # 25 in all
    for scope, key, kind, thr in limits:
        services.limit_create(actor=officer, reason="bench", name=f"bench {kind} {key}", scope=scope, scope_key=key,
                              kind=kind, threshold=thr, params={"window_s": 1} if kind == K.MAX_ORDER_RATE else {})
    return pf, symbols, officer, tag


def _cleanup(pf, symbols, officer):
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import Portfolio, Position
    from risk_app.models import RiskLimit, TradingStateChange, TradingStateRearm
    from risk_app.services import limits_version_bump

    scope = f"portfolio:{pf.pk}"
    with transaction.atomic():
        # Bench limits only: removed directly (bench cleanup is not a desk change), history included.
        ids = list(RiskLimit.objects.filter(requested_by=officer).values_list("id", flat=True))
        RiskLimit.objects.filter(id__in=ids).delete()
        RiskLimit.history.filter(id__in=ids).delete()
        limits_version_bump()
        TradingStateChange.objects.filter(scope=scope).delete()
        TradingStateRearm.objects.filter(scope=scope).delete()
        Position.objects.filter(portfolio=pf).delete()
        PriceBar.objects.filter(instrument__symbol__in=symbols).delete()
        Instrument.objects.filter(symbol__in=symbols).delete()
        Portfolio.objects.filter(pk=pf.pk).delete()
    officer.delete()


def _per_order(pf, symbols) -> list[dict]:
    from desk.interfaces import OrderIntent, Side
    from portfolio_app.models import Portfolio
    from risk_app.services import pre_trade_check

    def one(i):
        intent = OrderIntent(pf.pk, symbols[i % len(symbols)], Side.BUY if i % 2 else Side.SELL, D(10 + i % 50))
        with transaction.atomic():
            Portfolio.objects.select_for_update().get(pk=pf.pk)
            return pre_trade_check(portfolio_id=pf.pk, intents=[intent])[0]

    for i in range(20):  # warm: engine built, returns matrix cached
        one(i)
    with CaptureQueriesContext(connection) as q:
        one(0)
    queries = len(q.captured_queries)
    times = []
    for i in range(N_CHECKS):
        t0 = time.perf_counter()
        v = one(i)
        times.append(time.perf_counter() - t0)
    assert v.passed, v.reasons
    p50, p99 = statistics.median(times) * 1e3, sorted(times)[int(0.99 * (len(times) - 1))] * 1e3
    return [{
        "name": "risk.pre_trade_check_service_p50", "value": p50, "unit": "ms",
        "note": f"1 order, 25 limits + desk limits, {N_SYMBOLS} positions; lock + DB snapshot + engine; "
                f"{queries} queries incl. lock; p99 {p99:.2f} ms; {connection.vendor}",
    }]


def _spawn_workers(queue: str) -> list[subprocess.Popen]:
    from django.conf import settings

    from tests.live_stack import database_url

    env = dict(os.environ, DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL)
    log = open(os.devnull, "w")  # noqa: SIM115 - closed with the processes
    return [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-P", "threads", "-c", "2",
             "-n", f"benchrisk{k}-{queue}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "WARNING"],
            env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        for k in range(WORKERS)
    ]


def _kill_switch(pf, symbols, officer) -> list[dict]:
    from risk_app.services import trading_state_set
    from risk_app.tasks import risk_probe

    queue = f"bench-risk-{time.time_ns()}"
    procs = _spawn_workers(queue)
    results: list[dict] = []
    stop = threading.Event()

    def probe_loop():
        pending = []
        while not stop.is_set():
            pending.append(risk_probe.apply_async((pf.pk, symbols[0], "1", "100"), queue=queue))
            time.sleep(0.01)
            done = [r for r in pending if r.ready()]
            for r in done:
                pending.remove(r)
                if r.successful():
                    results.append(r.result)
        for r in pending:
            try:
                results.append(r.get(timeout=10))
            except Exception:
                pass

    try:
        sender = threading.Thread(target=probe_loop, daemon=True)
        sender.start()
        deadline = time.time() + 90
        while time.time() < deadline and len({r["pid"] for r in results if r["passed"]}) < WORKERS:
            time.sleep(0.1)
        seen_ok = {r["pid"] for r in results if r["passed"]}
        if len(seen_ok) < WORKERS:
            raise RuntimeError(f"only {len(seen_ok)} of {WORKERS} workers answered passing probes")
        time.sleep(0.5)
        trading_state_set(scope=f"portfolio:{pf.pk}", state="HALTED", actor=officer, reason="bench kill switch")
        t_halt = time.time()  # committed: trading_state_set is its own transaction
        time.sleep(2.0)
        stop.set()
        sender.join(timeout=20)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    per_worker = {}
    for r in results:
        if not r["passed"] and r["at"] >= t_halt - 0.5:
            per_worker[r["pid"]] = min(per_worker.get(r["pid"], float("inf")), r["at"])
    late_passes = [r for r in results if r["passed"] and r["at"] > t_halt]
    latency = max(per_worker.values()) - t_halt if len(per_worker) == WORKERS else float("nan")
    return [{
        "name": "risk.kill_switch_last_worker_refuses", "value": latency, "unit": "s", "goal": KILL_GOAL_S,
        "ratio": round(latency / KILL_GOAL_S, 3) if latency == latency else None,
        "note": f"{WORKERS} Celery worker processes x 2 threads polling every 10 ms; passes completing after the "
                f"commit: {len(late_passes)} (in-flight checks); {connection.vendor}",
    }]


def run():
    pf, symbols, officer, _ = _setup()
    try:
        figures = _per_order(pf, symbols)
        figures += _kill_switch(pf, symbols, officer)
    finally:
        _cleanup(pf, symbols, officer)
    return figures
