"""The desk's own Prometheus metrics, defined once (django-prometheus adds the HTTP ones).

Every process (ASGI, Celery workers, beat) writes into ``PROMETHEUS_MULTIPROC_DIR``
when it is set (``make run`` sets it under ``var/``), and ``/metrics`` aggregates
them, so a worker's fills show on the web server's endpoint. Gauges say how they
aggregate across processes (``multiprocess_mode``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

signals_received = Counter("desk_signals_received_total", "Signals stored, by agent", ["agent"])
proposals = Counter("desk_proposals_total", "Rebalance proposals by outcome (status reached)", ["outcome"])
orders = Counter("desk_orders_total", "Order transitions by the status reached", ["status"])
fills = Counter("desk_fills_total", "Fills recorded, by venue", ["venue"])
filled_notional = Counter("desk_filled_notional_usd_total", "Filled notional in USD, by venue", ["venue"])
pretrade_checks = Counter("desk_pretrade_checks_total", "Pre-trade checks by result", ["result"])
pretrade_denials = Counter("desk_pretrade_denials_total", "Pre-trade denials by limit kind", ["kind"])
signal_to_order = Histogram("desk_signal_to_order_seconds", "From the newest signal used to the order it caused", buckets=LATENCY_BUCKETS)
order_to_fill = Histogram("desk_order_to_fill_seconds", "From an order's creation to each of its fills", buckets=LATENCY_BUCKETS)
task_latency = Histogram("desk_celery_task_seconds", "Celery task run time", ["queue", "task"], buckets=LATENCY_BUCKETS)
task_failures = Counter("desk_celery_task_failures_total", "Celery task failures", ["queue", "task"])
queue_depth = Gauge("desk_celery_queue_depth", "Messages waiting per queue", ["queue"], multiprocess_mode="mostrecent")
websocket_connections = Gauge("desk_websocket_connections", "Open websocket connections", multiprocess_mode="livesum")
events_pushed = Counter("desk_events_pushed_total", "Events pushed to browsers, by type", ["type"])
risk_utilisation = Gauge("desk_risk_utilisation_ratio", "Limit utilisation (value / threshold)", ["limit"], multiprocess_mode="mostrecent")
alerts_active = Gauge("desk_alerts_active", "Active alerts", multiprocess_mode="mostrecent")


# --- Switch: DESK_METRICS_ENABLED=false makes every metric above a no-op --------------
# Callers use ``metrics.<name>`` at call time, so swapping the module's names switches them all.


class _Off:
    def labels(self, *args, **kwargs):
        return self

    def inc(self, *args, **kwargs):
        return None

    dec = set = observe = inc


_REAL = {name: obj for name, obj in dict(globals()).items() if isinstance(obj, (Counter, Gauge, Histogram))}


def metrics_enable(on: bool) -> None:
    """Turn the desk's metrics on or off in this process (the overhead benchmark runs both)."""
    off = _Off()
    globals().update({name: (real if on else off) for name, real in _REAL.items()})


def _enabled_from_env() -> bool:
    import os

    return os.environ.get("DESK_METRICS_ENABLED", "true").strip().lower() not in ("0", "false", "no", "off")


if not _enabled_from_env():
    metrics_enable(False)
