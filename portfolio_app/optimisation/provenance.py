"""What made a proposal, so it can be made again: the record stored with it, and its analysis.

``analyse`` is the one place a proposal's risk report and reproducibility record are
computed (the proposal service stores them, ``reproduce_proposal`` recomputes them):

- the *estimation window*: the closes the optimiser estimated from (the last
  ``lookback_days + 1`` sessions of what it was given, instruments with no close in
  it left out), named by its first and last session;
- the *inputs hash*: SHA-256 over the window's closes, the benchmark's, the strategy's
  full config (parameters, estimators, constraints), the views and the current
  weights, so a changed input is told apart from a changed computation;
- the record: strategy used (and the one asked for, when the fallback ran), config,
  estimators, window, views, current weights and the optimiser's weights, full precision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from desk.interfaces import View

from .risk_report import risk_report

ESTIMATOR_KEYS = ("risk_model", "return_model", "lookback_days", "min_history_days", "cov_span", "ema_span",
                  "risk_free_rate")


@dataclass(frozen=True)
class Analysis:
    risk_report: dict[str, Any]
    provenance: dict[str, Any]
    inputs_hash: str


def estimation_window(prices: pd.DataFrame, lookback_days: int) -> pd.DataFrame:
    """The closes an optimisation with this lookback estimates from, columns sorted."""
    frame = prices if prices.index.is_monotonic_increasing else prices.sort_index()
    frame = frame.iloc[-(int(lookback_days) + 1):]
    frame = frame.loc[:, frame.notna().any(axis=0)]
    return frame[sorted(frame.columns, key=str)].astype(float)


def views_json(views: Mapping[str, View]) -> dict[str, dict[str, Any]]:
    return {
        s: {"score": float(v.score), "confidence": float(v.confidence),
            "contributions": {str(k): float(x) for k, x in dict(v.contributions).items()}}
        for s, v in sorted(views.items())
    }


def views_from_json(data: Mapping[str, Mapping[str, Any]]) -> dict[str, View]:
    return {s: View(s, float(v["score"]), float(v["confidence"]), dict(v.get("contributions") or {}))
            for s, v in (data or {}).items()}


def inputs_hash(
    *,
    config: Mapping[str, Any],
    window: pd.DataFrame,
    benchmark: pd.Series | None,
    views: Mapping[str, View],
    current: Mapping[str, float],
) -> str:
    h = hashlib.sha256()
    meta = {
        "config": config,
        "symbols": [str(c) for c in window.columns],
        "sessions": [pd.Timestamp(d).date().isoformat() for d in window.index],
        "views": views_json(views),
        "current": {s: float(w) for s, w in sorted(current.items())},
        "benchmark": None if benchmark is None else str(benchmark.name),
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(window.to_numpy(dtype=float), dtype="<f8").tobytes())
    if benchmark is not None:
        h.update(np.ascontiguousarray(benchmark.to_numpy(dtype=float), dtype="<f8").tobytes())
    return h.hexdigest()


def _benchmark_on(window: pd.DataFrame, closes: pd.Series | None) -> pd.Series | None:
    if closes is None or closes.dropna().empty:
        return None
    aligned = closes.sort_index().astype(float).reindex(window.index).ffill()
    return aligned if aligned.notna().sum() > 2 else None


def _window_returns(window: pd.DataFrame, symbols, bench: pd.Series | None):
    if bench is None:
        return None, None
    closes = window[list(symbols)].ffill()
    r = closes.pct_change().iloc[1:].to_numpy(dtype=float)
    rb = bench.pct_change().iloc[1:].to_numpy(dtype=float)
    ok = np.isfinite(rb) & np.isfinite(r).all(axis=1)
    return r[ok], rb[ok]


def analyse(
    *,
    optimiser: Any,  # the PortfolioOptimiser whose weights these are (the fallback's when it ran)
    estimates: Any,  # its ``Estimates`` (symbols, covariance)
    prices: pd.DataFrame,
    views: Mapping[str, View],
    current: Mapping[str, float],
    after: Mapping[str, float],
    solution: Mapping[str, float],
    sectors: Mapping[str, str],
    benchmark_closes: pd.Series | None = None,
    benchmark: str | None = None,
    fallback: Mapping[str, Any] | None = None,
) -> Analysis:
    p = optimiser.p
    window = estimation_window(prices, int(p["lookback_days"]))
    bench = _benchmark_on(window, benchmark_closes)
    if bench is not None:
        bench = bench.rename(benchmark)
    returns, bench_returns = _window_returns(window, estimates.symbols, bench)
    report = risk_report(
        symbols=estimates.symbols, cov=estimates.cov, before=current, after=after, solution=solution,
        sectors=sectors, constraints=optimiser.constraints, returns=returns, benchmark_returns=bench_returns,
        benchmark=benchmark if bench is not None else None,
    )
    config = {"strategy": optimiser.strategy, **dict(optimiser.params), "constraints": dict(optimiser.constraints.source)}
    digest = inputs_hash(config=config, window=window, benchmark=bench, views=views, current=current)
    provenance = {
        "strategy": optimiser.strategy,
        "requested_strategy": (fallback or {}).get("instead_of", optimiser.strategy),
        "config": config,
        "estimators": {k: p[k] for k in ESTIMATOR_KEYS},
        "window": {
            "first": pd.Timestamp(window.index[0]).date().isoformat() if len(window) else None,
            "last": pd.Timestamp(window.index[-1]).date().isoformat() if len(window) else None,
            "sessions": len(window),
            "symbols": [str(c) for c in window.columns],
        },
        "benchmark": benchmark if bench is not None else None,
        "sectors": {str(k): str(v or "") for k, v in sorted(sectors.items())},
        "views": views_json(views),
        "current_weights": {s: float(w) for s, w in sorted(current.items())},
        "after_weights": {s: float(w) for s, w in sorted(after.items())},
        "weights": {s: float(w) for s, w in sorted(solution.items())},
        "fallback": dict(fallback) if fallback else None,
        "inputs_hash": digest,
    }
    return Analysis(report, provenance, digest)


def first_difference(stored: Any, fresh: Any, path: str = "", tol: float = 1e-9) -> str | None:
    """Where two JSON-like values first differ (numbers within ``tol``), as ``path: stored != fresh``."""
    if isinstance(stored, Mapping) and isinstance(fresh, Mapping):
        for key in sorted(set(stored) | set(fresh), key=str):
            if key not in stored or key not in fresh:
                return f"{path}.{key}: {stored.get(key, 'missing')!r} != {fresh.get(key, 'missing')!r}".lstrip(".")
            diff = first_difference(stored[key], fresh[key], f"{path}.{key}", tol)
            if diff:
                return diff
        return None
    if isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            return f"{path.lstrip('.')}: {len(stored)} items != {len(fresh)} items"
        for i, (a, b) in enumerate(zip(stored, fresh)):
            diff = first_difference(a, b, f"{path}[{i}]", tol)
            if diff:
                return diff
        return None
    if isinstance(stored, (int, float)) and isinstance(fresh, (int, float)) and not isinstance(stored, bool):
        if abs(float(stored) - float(fresh)) <= tol * max(1.0, abs(float(stored))):
            return None
    elif stored == fresh:
        return None
    return f"{path.lstrip('.')}: {stored!r} != {fresh!r}"
