"""Monitoring costs and reaction time.

1. Overhead of the desk's metrics and structured logging on an in-process order lifecycle
   (``order_create`` -> SUBMITTED -> ``fill_apply``), N orders with metrics + INFO logs on
   and N with them off (``desk.metrics.metrics_enable(False)`` and the ``desk`` loggers at
   WARNING), interleaved in blocks in the same run so drift hits both alike. Goal: <= 5 %.
2. Time from a Celery worker being killed (SIGKILL) to the "worker missing" alert being
   raised, with the rule evaluated at the beat's cadence (``DESK_ALERT_EVAL_SECONDS``) from a
   random phase, as beat would. Goal: <= 30 s.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

N_ORDERS = int(os.environ.get("BENCH_MONITORING_N", "300"))
BLOCK = 25
ROOT = Path(__file__).resolve().parent.parent


def _lifecycle(pf, inst, tag: str, n: int) -> list[float]:
    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app import services

    times = []
    for i in range(n):
        coid = f"bm-{tag}-{i}"
        t0 = time.perf_counter()
        order, _ = services.order_create(client_order_id=coid, portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(10))
        services.order_apply_event(order_id=order.pk, event="SUBMITTED")
        services.fill_apply(order_id=order.pk, report=FillReport(
            f"{coid}-f", coid, "", inst.symbol, Side.BUY, D(10), D("101.25"), D("0.35"), LiquiditySide.TAKER, datetime.now(UTC)))
        times.append(time.perf_counter() - t0)
    return times


def _switch(on: bool) -> None:
    from desk import metrics

    metrics.metrics_enable(on)
    for name in ("desk", "desk.orders", "desk.request"):
        logging.getLogger(name).setLevel(logging.INFO if on else logging.WARNING)


def overhead() -> list[dict]:
    from orders_app.models import Fill, Order, OrderEvent
    from market_app.models import Instrument
    from portfolio_app.models import Portfolio, Position

    inst, _ = Instrument.objects.get_or_create(symbol="BENCHMON", defaults={"adv": 1_000_000})
    pf = Portfolio.objects.create(name=f"bench-monitoring-{uuid.uuid4().hex[:8]}", cash=D("100000000.00"))
    run = uuid.uuid4().hex[:6]
    on, off = [], []
    try:
        _switch(True)
        _lifecycle(pf, inst, f"{run}-warm", 20)
        for b in range(N_ORDERS // BLOCK):
            order = (True, False) if b % 2 == 0 else (False, True)
            for state in order:
                _switch(state)
                (on if state else off).extend(_lifecycle(pf, inst, f"{run}-{b}-{int(state)}", BLOCK))
    finally:
        _switch(True)
        Fill.objects.filter(order__portfolio=pf).delete()
        OrderEvent.objects.filter(order__portfolio=pf).delete()
        Order.objects.filter(portfolio=pf).delete()
        Position.objects.filter(portfolio=pf).delete()
        pf.delete()
    med_on, med_off = statistics.median(on), statistics.median(off)
    mean_on, mean_off = statistics.fmean(on), statistics.fmean(off)
    pct = 100 * (med_on / med_off - 1)
    return [
        {"name": "order lifecycle, metrics+logs on (median)", "value": med_on * 1000, "unit": "ms/order",
         "note": f"N={len(on)}, mean {mean_on * 1000:.2f} ms"},
        {"name": "order lifecycle, metrics+logs off (median)", "value": med_off * 1000, "unit": "ms/order",
         "note": f"N={len(off)}, mean {mean_off * 1000:.2f} ms"},
        {"name": "metrics+logging overhead on order lifecycle", "value": pct, "unit": "%", "goal": "<= 5",
         "ratio": med_on / med_off, "note": f"mean-based {100 * (mean_on / mean_off - 1):.1f}%; interleaved blocks of {BLOCK}"},
    ]


def _worker_alert(name: str):
    from risk_app.models import Alert

    return Alert.objects.filter(kind="worker_missing", status="active", key__endswith=f":{name}").first()


def worker_missing() -> list[dict]:
    from django.conf import settings

    from ops_app.alert_rules.rules import alert_rules_evaluate
    from ops_app.alert_rules.series import workers_forget
    from ops_app.models import AlertRule

    rule = AlertRule.objects.filter(kind="worker_missing").first()
    if rule is None or not rule.enabled:
        return [{"name": "worker stop -> worker_missing alert", "value": None, "note": "rule missing or disabled"}]
    name = f"benchmon-{os.getpid()}@{socket.gethostname()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", name, "-Q", f"benchmon-{os.getpid()}",
         "--pool", "threads", "-c", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alert_rules_evaluate(kinds=["worker_missing"])
            from desk.redis import get_redis

            if get_redis().hexists("mon:workers", name):
                break
            time.sleep(0.5)
        else:
            return [{"name": "worker stop -> worker_missing alert", "value": None, "note": "worker never answered"}]
        alert_rules_evaluate(kinds=["worker_missing"])  # the last answer before the kill
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        period = float(getattr(settings, "DESK_ALERT_EVAL_SECONDS", 10.0))
        time.sleep(random.Random(7).uniform(0, period))  # beat's phase relative to the kill
        while time.monotonic() - killed < 120:
            alert_rules_evaluate(kinds=["worker_missing"])
            if _worker_alert(name) is not None:
                break
            time.sleep(period)
        raised = time.monotonic() - killed
        ok = _worker_alert(name) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        workers_forget([name])
        alert_rules_evaluate(kinds=["worker_missing"])  # resolves the bench's alert
    return [{
        "name": "worker stop -> worker_missing alert", "value": raised if ok else None, "unit": "s", "goal": "<= 30",
        "note": f"threshold {rule.threshold:.0f} s, evaluated every {period:.0f} s (beat cadence), ping timeout "
                f"{(rule.params or {}).get('ping_timeout', 1.0)} s" + ("" if ok else "; NOT raised within 120 s"),
    }]


def run() -> list[dict]:
    return overhead() + worker_missing()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for fig in run():
        print(fig)
