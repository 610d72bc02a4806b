"""Execution algorithms: a parent order becomes a schedule of child slices (pure core).

Every algo implements ``interfaces.ExecutionAlgo.schedule(intent, market, params)``
and returns slices that

- sum exactly to the parent quantity, each a whole number of lots (largest
  remainder rounding, so no lot is lost or invented);
- fall inside the execution window, in due order, numbered 0, 1, 2, ...;
- carry the parent's limit price (a per-slice ``limit_price`` param may only
  tighten it: a child never trades at a price the parent forbids).

Slices of zero lots are dropped (a window with more buckets than lots).

Common params: ``start`` / ``end`` (aware datetimes; default now .. session
close, clipped to the session), ``lot_size`` (default 1), ``limit_price``. Each
algo lists its own in ``tuning``. A param that is not a number of its kind is a
``ConfigError`` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from desk.interfaces import ConfigError, ExecutionAlgo, MarketState, OrderIntent, OrderType, Side, Slice
from market_app.intraday import volume_profile
from desk.money import to_decimal

DEFAULT_INTERVAL_MINUTES = 5.0


# ---------------------------------------------------------------------------
# Helpers shared by the algos


def allocate_lots(total_lots: int, weights: Sequence[float]) -> list[int]:
    """Split ``total_lots`` in proportion to ``weights`` (largest remainder; ties to the earlier bucket)."""
    w = np.asarray(weights, dtype=float)
    s = float(w.sum())
    if total_lots <= 0 or len(w) == 0:
        return [0] * len(w)
    if not s > 0:
        w = np.ones(len(w))
        s = float(len(w))
    exact = w * (total_lots / s)
    base = np.floor(exact).astype(np.int64)
    short = total_lots - int(base.sum())
    if short > 0:
        # Stable sort on the negated remainder: equal remainders go to earlier buckets.
        order = np.argsort(-(exact - base), kind="stable")[:short]
        base[order] += 1
    return base.tolist()


def _number(params: Mapping[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool):
        raise ConfigError(key, "must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"must be a number, got {value!r}") from None


def _whole(params: Mapping[str, Any], key: str, default: int) -> int:
    x = _number(params, key, default)
    if not (math.isfinite(x) and x == int(x)):
        raise ConfigError(key, f"must be a whole number, got {params.get(key)!r}")
    return int(x)


def _lots(intent: OrderIntent, params: Mapping[str, Any]) -> tuple[int, Decimal]:
    lot = to_decimal(params.get("lot_size", 1))
    if lot <= 0:
        raise ConfigError("lot_size", "must be positive")
    if intent.quantity <= 0:
        raise ConfigError("quantity", "must be positive")
    n, rem = divmod(intent.quantity, lot)
    if rem != 0:
        raise ConfigError("quantity", f"{intent.quantity} is not a whole number of lots of {lot}")
    return int(n), lot


def _limit(intent: OrderIntent, params: Mapping[str, Any]) -> Decimal | None:
    """The slice limit: the parent's, tightened (never loosened) by a ``limit_price`` param."""
    parent = intent.limit_price
    if intent.order_type is OrderType.LIMIT and parent is None:
        raise ConfigError("limit_price", "a LIMIT order needs a limit price")
    own = params.get("limit_price")
    if own is None:
        return parent
    own = to_decimal(own)
    if parent is None:
        return own
    return min(own, parent) if intent.side is Side.BUY else max(own, parent)


def _window(market: MarketState, params: Mapping[str, Any]) -> tuple[datetime, datetime]:
    start = max(params.get("start") or market.now, market.session_open)
    end = min(params.get("end") or market.session_close, market.session_close)
    if start.tzinfo is None or end.tzinfo is None:
        raise ConfigError("start", "window bounds must be timezone-aware")
    if not start < end:
        raise ConfigError("end", f"the window {start.isoformat()} .. {end.isoformat()} is empty (session over?)")
    return start, end


def _buckets(start: datetime, end: datetime, interval_minutes: float) -> list[tuple[datetime, datetime]]:
    if not 0 < interval_minutes < math.inf:
        raise ConfigError("interval_minutes", "must be a positive number of minutes")
    step = timedelta(minutes=interval_minutes)
    n = max(1, math.ceil((end - start) / step - 1e-9))
    return [(start + i * step, min(start + (i + 1) * step, end)) for i in range(n)]


def _profile_for(market: MarketState) -> np.ndarray:
    n_minutes = max(1, round((market.session_close - market.session_open).total_seconds() / 60.0))
    if market.volume_profile:
        p = np.asarray(market.volume_profile, dtype=float)
        return p / p.sum()
    return volume_profile(n_minutes)


def _bucket_volume_shares(market: MarketState, buckets: list[tuple[datetime, datetime]]) -> np.ndarray:
    """Share of the session's volume in each bucket: the cumulative profile, interpolated within minutes."""
    profile = _profile_for(market)
    cum = np.concatenate(([0.0], np.cumsum(profile)))
    n = len(profile)
    session_s = (market.session_close - market.session_open).total_seconds()
    # Minutes from the open on the profile's own scale (its length may differ from the session's).
    scale = n / (session_s / 60.0) if session_s > 0 else 1.0
    edges = [(b[0] - market.session_open).total_seconds() / 60.0 * scale for b in buckets]
    edges.append((buckets[-1][1] - market.session_open).total_seconds() / 60.0 * scale)
    c = np.interp(np.asarray(edges), np.arange(n + 1, dtype=float), cum)
    return np.diff(c)


def _slices(dues: Sequence[datetime], lots: Sequence[int], lot: Decimal, limit: Decimal | None) -> list[Slice]:
    out: list[Slice] = []
    for due, n in zip(dues, lots):
        if n > 0:
            out.append(Slice(due=due, quantity=lot * n, limit_price=limit, sequence=len(out)))
    return out


# ---------------------------------------------------------------------------
# The algos


class ImmediateAlgo(ExecutionAlgo):
    """The whole parent as one slice, due now (or at ``start``)."""

    name = "IMMEDIATE"

    def schedule(self, intent: OrderIntent, market: MarketState, params: Mapping[str, Any]) -> list[Slice]:
        n, lot = _lots(intent, params)
        due = params.get("start") or market.now
        return _slices([due], [n], lot, _limit(intent, params))


class TwapAlgo(ExecutionAlgo):
    """Equal slices at equal intervals over the window.

    Params: ``slices`` (count; default one per ``interval_minutes``, 5), ``randomise``
    (in [0, 1): each slice's size is scaled by a factor in [1 - r, 1 + r] and its time
    moved later by up to r of its interval, so the schedule is harder to detect yet
    stays in order and in the window), ``seed`` (the same seed gives the same schedule).
    """

    name = "TWAP"
    tuning = ("slices", "interval_minutes", "randomise", "seed")

    def schedule(self, intent: OrderIntent, market: MarketState, params: Mapping[str, Any]) -> list[Slice]:
        n, lot = _lots(intent, params)
        start, end = _window(market, params)
        if params.get("slices") is None:
            count = len(_buckets(start, end, _number(params, "interval_minutes", DEFAULT_INTERVAL_MINUTES)))
        else:
            count = _whole(params, "slices", 1)
        if count < 1:
            raise ConfigError("slices", "must be at least 1")
        interval = (end - start) / count
        r = _number(params, "randomise", 0.0)
        if not 0.0 <= r < 1.0:
            raise ConfigError("randomise", "must be in [0, 1)")
        seed = _whole(params, "seed", 0)
        if seed < 0:
            raise ConfigError("seed", "must be at least 0")
        weights = np.ones(count)
        offsets = np.zeros(count)
        if r > 0:
            rng = np.random.default_rng(seed)
            weights = 1.0 + r * rng.uniform(-1.0, 1.0, count)
            offsets = r * rng.uniform(0.0, 1.0, count)
        dues = [start + interval * (i + float(offsets[i])) for i in range(count)]
        return _slices(dues, allocate_lots(n, weights), lot, _limit(intent, params))


class VwapAlgo(ExecutionAlgo):
    """Slices in proportion to the expected market volume of each bucket (U-shaped profile).

    Params: ``interval_minutes`` (bucket length, default 5). The profile is
    ``market.volume_profile`` when given, else the desk's ``intraday.volume_profile``.
    """

    name = "VWAP"
    tuning = ("interval_minutes",)

    def schedule(self, intent: OrderIntent, market: MarketState, params: Mapping[str, Any]) -> list[Slice]:
        n, lot = _lots(intent, params)
        start, end = _window(market, params)
        buckets = _buckets(start, end, _number(params, "interval_minutes", DEFAULT_INTERVAL_MINUTES))
        shares = _bucket_volume_shares(market, buckets)
        return _slices([b[0] for b in buckets], allocate_lots(n, shares), lot, _limit(intent, params))


class PovAlgo(ExecutionAlgo):
    """Participate at ``rate`` of the simulated market volume (``market.adv`` x profile).

    Each bucket's slice keeps the cumulative quantity at or below ``rate`` x the
    cumulative market volume (floored to lots), until the parent is done; later
    buckets get nothing. If the window's volume cannot absorb the parent at that
    rate, ``on_shortfall`` decides: ``"last_slice"`` (default) puts the remainder in
    the last bucket so the schedule still sums to the parent; ``"expire"`` leaves it
    unscheduled, to expire or be handed back with the parent.
    """

    name = "POV"
    tuning = ("rate", "interval_minutes", "on_shortfall")

    def schedule(self, intent: OrderIntent, market: MarketState, params: Mapping[str, Any]) -> list[Slice]:
        n, lot = _lots(intent, params)
        rate = _number(params, "rate", 0.1)
        if not 0.0 < rate <= 1.0:
            raise ConfigError("rate", "must be in (0, 1]")
        if not market.adv > 0:
            raise ConfigError("adv", "POV needs the instrument's average daily volume")
        on_shortfall = params.get("on_shortfall", "last_slice")
        if on_shortfall not in ("last_slice", "expire"):
            raise ConfigError("on_shortfall", "must be 'last_slice' or 'expire'")
        start, end = _window(market, params)
        buckets = _buckets(start, end, _number(params, "interval_minutes", DEFAULT_INTERVAL_MINUTES))
        market_volume = _bucket_volume_shares(market, buckets) * market.adv
        lot_f = float(lot)
        # The tiny epsilon keeps an exact product like 0.1 * 30000 = 2999.9999... from losing a lot.
        cap = np.floor(np.cumsum(market_volume) * rate / lot_f + 1e-9).astype(np.int64)
        cum = np.minimum(cap, n)
        lots = np.diff(np.concatenate(([0], cum))).tolist()
        short = n - int(cum[-1])
        if short > 0 and on_shortfall == "last_slice":
            lots[-1] += short
        return _slices([b[0] for b in buckets], lots, lot, _limit(intent, params))


ALGOS: dict[str, ExecutionAlgo] = {a.name: a for a in (ImmediateAlgo(), TwapAlgo(), VwapAlgo(), PovAlgo())}


def get_algo(name: str) -> ExecutionAlgo:
    """The algo registered under ``name`` (case-insensitive); ConfigError for an unknown one."""
    try:
        return ALGOS[name.upper()]
    except KeyError:
        raise ConfigError("algo", f"{name!r} is not one of {', '.join(ALGOS)}") from None
