"""Monitoring alert rules: the desk's own evaluation, its Redis series, webhook delivery.

- ``rules``: ``alert_rules_evaluate`` / ``alert_rules_tick`` (the beat task's body), one evaluator per kind
- ``series``: per-minute request/error/latency/queue series and worker pings in Redis, ``RequestSeriesMiddleware``
- ``webhooks``: one delivery per alert state change, retried with backoff
- ``instruments``: the risk services' Prometheus updates

Names are re-exported lazily: the risk services import ``instruments`` while this
package's other modules import the services.
"""

from importlib import import_module

_EXPORTS = {
    "alert_rules_evaluate": "rules", "alert_rules_tick": "rules", "Probe": "rules", "PROBE_KINDS": "rules",
    "series_read": "series", "workers_list": "series", "queue_depths": "series", "RequestSeriesMiddleware": "series",
    "alert_delivery_schedule": "webhooks", "alert_delivery_send": "webhooks", "deliveries_sweep": "webhooks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
