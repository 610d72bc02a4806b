"""The risk app's Prometheus updates, one call each from the services that decide.

Kept here so the pre-trade check and the risk monitor each carry one line of
instrumentation, and so the label choices live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from desk import metrics

BLOCK = "block"


def verdicts_count(verdicts: Iterable) -> None:
    """One ``desk_pretrade_checks_total`` per verdict; one denial per blocking limit kind that denied it."""
    for v in verdicts:
        metrics.pretrade_checks.labels("pass" if v.passed else "deny").inc()
        if not v.passed:
            for kind in {b.kind for b in v.breaches if b.action == BLOCK}:
                metrics.pretrade_denials.labels(kind).inc()


def utilisation_set(portfolio_id: int, utilisation: Mapping[str, float | None], limits: Mapping[str, object]) -> None:
    """``desk_risk_utilisation_ratio{limit="<portfolio id>:<limit name>"}`` for every measurable limit."""
    for key, u in utilisation.items():
        limit = limits.get(key)
        if limit is not None and u is not None:
            metrics.risk_utilisation.labels(f"{portfolio_id}:{getattr(limit, 'name', key)}").set(float(u))
