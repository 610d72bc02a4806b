"""Rebalancing policies: should this portfolio be rebalanced on this market date?

Pure functions over the market clock's date; the Celery beat job asks once per
session per portfolio and, on ``True``, requests a proposal. Policy config::

    {"kind": "calendar", "frequency": "daily" | "weekly" | "monthly"}
    {"kind": "drift", "band_pp": 5.0}     # any weight > 5 percentage points off target
    {"kind": "on_demand"}                 # only when a trader asks

Calendar policies fire on the *last* XNYS session of their period (a month whose
last weekday is a holiday rebalances on the session before it), so a monthly
book trades on the same closes a backtest would.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from desk.interfaces import ConfigError

KINDS = ("calendar", "drift", "on_demand")
FREQUENCIES = ("daily", "weekly", "monthly")


@functools.cache
def _xnys():
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS")


def is_session(day: date) -> bool:
    cal = _xnys()
    ts = pd.Timestamp(day)
    if not (cal.first_session <= ts <= cal.last_session):
        raise ValueError(f"{day} is outside the XNYS calendar ({cal.first_session.date()} to {cal.last_session.date()})")
    return bool(cal.is_session(ts))


def is_period_end(day: date, frequency: str) -> bool:
    """Whether ``day`` is the last XNYS session of its day / ISO week / month."""
    if frequency not in FREQUENCIES:
        raise ConfigError("frequency", f"must be one of {', '.join(FREQUENCIES)}")
    if not is_session(day):
        return False
    if frequency == "daily":
        return True
    following = _xnys().next_session(pd.Timestamp(day)).date()
    if frequency == "weekly":
        return following.isocalendar()[:2] != day.isocalendar()[:2]
    return (following.year, following.month) != (day.year, day.month)


def validate_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The policy with defaults filled in; raises ``ConfigError`` naming the bad field."""
    kind = policy.get("kind")
    if kind not in KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
    if kind == "calendar":
        frequency = policy.get("frequency", "monthly")
        if frequency not in FREQUENCIES:
            raise ConfigError("frequency", f"must be one of {', '.join(FREQUENCIES)}")
        return {"kind": kind, "frequency": frequency}
    if kind == "drift":
        try:
            band = float(policy.get("band_pp", 5.0))
        except (TypeError, ValueError):
            raise ConfigError("band_pp", "must be a number of percentage points") from None
        if not band > 0:
            raise ConfigError("band_pp", "must be positive")
        return {"kind": kind, "band_pp": band}
    return {"kind": kind}


def largest_drift(current_weights: Mapping[str, float], target_weights: Mapping[str, float]) -> tuple[str, float]:
    """The symbol furthest from its target and the gap in weight (fraction of NAV)."""
    worst, gap = "", 0.0
    for symbol in sorted(set(current_weights) | set(target_weights)):
        d = abs(float(current_weights.get(symbol, 0.0)) - float(target_weights.get(symbol, 0.0)))
        if d > gap:
            worst, gap = symbol, d
    return worst, gap


def should_rebalance(
    policy: Mapping[str, Any],
    *,
    market_date: date,
    current_weights: Mapping[str, float],
    target_weights: Mapping[str, float] | None,
    last_rebalance_date: date | None,
    requested: bool = False,
) -> tuple[bool, str]:
    """(decision, reason). ``requested`` is a trader's on-demand request, honoured by every policy.

    A portfolio is never rebalanced twice by policy on the same market date, and a
    drift policy with no target yet (never rebalanced) rebalances to get one.
    """
    p = validate_policy(policy)
    if requested:
        return True, "A trader asked for a rebalance."
    if last_rebalance_date is not None and last_rebalance_date >= market_date:
        return False, f"Already rebalanced on {last_rebalance_date.isoformat()}."
    if p["kind"] == "on_demand":
        return False, "This portfolio rebalances only when a trader asks."
    if not is_session(market_date):
        return False, f"{market_date.isoformat()} is not an NYSE trading session."
    if p["kind"] == "calendar":
        frequency = p["frequency"]
        if is_period_end(market_date, frequency):
            period = {"daily": "session", "weekly": "week", "monthly": "month"}[frequency]
            return True, f"{market_date.isoformat()} is the last trading session of the {period}."
        return False, f"Not the last trading session of the {frequency.removesuffix('ly') if frequency != 'daily' else 'day'}."
    if not target_weights:
        return True, "No target weights yet: rebalancing to set them."
    band = p["band_pp"] / 100.0
    symbol, gap = largest_drift(current_weights, target_weights)
    # A gap exactly on the band is inside it: "more than N points off" triggers.
    if gap > band + 1e-12:
        return True, (
            f"{symbol} is {gap * 100:.2f} percentage points off its target "
            f"(current {current_weights.get(symbol, 0.0):.2%}, target {target_weights.get(symbol, 0.0):.2%}), "
            f"beyond the {p['band_pp']:g}-point band."
        )
    return False, f"Every weight is within {p['band_pp']:g} percentage points of its target (largest gap {gap * 100:.2f})."
