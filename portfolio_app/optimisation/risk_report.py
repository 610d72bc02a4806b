"""The risk a proposal changes: computed once here, stored with the proposal, formatted by the page.

Plain data in (weights by symbol, the covariance the optimiser used, the window's daily
returns), a JSON-ready dict out::

    {"volatility": {"before": 0.12, "after": 0.15},           # ex-ante, annual
     "contributions": [{"symbol", "sector", "weight_before", "weight_after",
                        "before", "after",                    # contribution to annual volatility
                        "share_before", "share_after"}, ...], # share of the portfolio's risk
     "sectors": [{"sector", "before", "after", "cap", "floor", "over_cap"}, ...],
     "tracking_error": {"benchmark": "SPX", "before": 0.05, "after": 0.04} | None,
     "binding": [{"kind", "name", "limit", "value"}, ...],   # constraints that bind at the solution
     "unpriced": ["XYZ"]}                                      # held but outside the risk model

Volatility is ``sqrt(w'S w)`` with the optimiser's covariance ``S``; a holding's
contribution ``w_i (S w)_i / sigma`` (they add up to ``sigma``), its share of risk
``w_i (S w)_i / w'S w``. Cash carries no risk. Tracking error is the annualised standard
deviation of the active daily return (portfolio minus benchmark) the weights would have
had over the estimation window, cash earning nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .constraints import Constraints
from .estimates import TRADING_DAYS

BIND_TOLERANCE = 1e-6
DIGITS = 12  # stored figures are rounded so a recomputation compares equal to the stored one


def _r(x: float | None) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return round(float(x), DIGITS)


def _vector(weights: Mapping[str, float], symbols: Sequence[str]) -> np.ndarray:
    return np.array([float(weights.get(s, 0.0)) for s in symbols])


def volatility(w: np.ndarray, cov: np.ndarray) -> float:
    return float(np.sqrt(max(float(w @ cov @ w), 0.0)))


def contributions(w: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each holding's contribution to volatility and its share of risk (zeros for an all-cash book)."""
    rc = w * (cov @ w)
    var = float(rc.sum())
    if var <= 0:
        return np.zeros_like(w), np.zeros_like(w)
    return rc / np.sqrt(var), rc / var


def tracking_error(w: np.ndarray, returns: np.ndarray, benchmark_returns: np.ndarray) -> float:
    active = returns @ w - benchmark_returns
    return float(np.std(active, ddof=1) * np.sqrt(TRADING_DAYS))


def binding_constraints(
    symbols: Sequence[str], w: np.ndarray, cons: Constraints, sectors: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The constraints the solution ``w`` sits on (within ``BIND_TOLERANCE``).

    Per-instrument caps and floors (a floor of 0 in a long-only book is listed once, as
    ``long_only``, with the instruments it keeps out), sector caps and floors, the gross limit.
    """
    out: list[dict[str, Any]] = []
    lo, hi = cons.bounds(symbols)
    zero_floor = []
    for s, x, a, b in zip(symbols, w, lo, hi):
        if b < 1.0 and x >= b - BIND_TOLERANCE:
            out.append({"kind": "max_weight", "name": s, "limit": _r(b), "value": _r(x)})
        elif x <= a + BIND_TOLERANCE:
            if a == 0.0 and not cons.long_short:
                zero_floor.append(s)
            else:
                out.append({"kind": "min_weight", "name": s, "limit": _r(a), "value": _r(x)})
    mapper = {**dict(sectors or {}), **dict(cons.sector_mapper)}
    for sec in sorted(set(cons.sector_upper) | set(cons.sector_lower)):
        total = float(sum(x for s, x in zip(symbols, w) if mapper.get(s) == sec))
        upper, lower = cons.sector_upper.get(sec), cons.sector_lower.get(sec)
        if upper is not None and total >= upper - BIND_TOLERANCE:
            out.append({"kind": "sector_cap", "name": sec, "limit": _r(upper), "value": _r(total)})
        if lower is not None and total <= lower + BIND_TOLERANCE:
            out.append({"kind": "sector_floor", "name": sec, "limit": _r(lower), "value": _r(total)})
    gross = float(np.abs(w).sum())
    if cons.gross_limit is not None and gross >= cons.gross_limit - BIND_TOLERANCE:
        out.append({"kind": "gross_limit", "name": "gross", "limit": _r(cons.gross_limit), "value": _r(gross)})
    if zero_floor:
        out.append({"kind": "long_only", "name": ", ".join(zero_floor), "limit": 0.0, "value": 0.0})
    return out


def sector_rows(
    symbols: Sequence[str], before: np.ndarray, after: np.ndarray, sectors: Mapping[str, str], cons: Constraints
) -> list[dict[str, Any]]:
    names = sorted({sectors.get(s) or "Unclassified" for s in symbols} | set(cons.sector_upper) | set(cons.sector_lower))
    rows = []
    for sec in names:
        mask = np.array([(sectors.get(s) or "Unclassified") == sec for s in symbols])
        b, a = float(before[mask].sum()), float(after[mask].sum())
        cap, floor = cons.sector_upper.get(sec), cons.sector_lower.get(sec)
        if not mask.any() and cap is None and floor is None:
            continue
        rows.append({
            "sector": sec, "before": _r(b), "after": _r(a), "cap": _r(cap) if cap is not None else None,
            "floor": _r(floor) if floor is not None else None,
            "over_cap": bool(cap is not None and a > cap + BIND_TOLERANCE),
            "under_floor": bool(floor is not None and a < floor - BIND_TOLERANCE),
        })
    return rows


def risk_report(
    *,
    symbols: Sequence[str],
    cov: np.ndarray,
    before: Mapping[str, float],
    after: Mapping[str, float],
    solution: Mapping[str, float],
    sectors: Mapping[str, str],
    constraints: Constraints,
    returns: np.ndarray | None = None,
    benchmark_returns: np.ndarray | None = None,
    benchmark: str | None = None,
) -> dict[str, Any]:
    """The report described in the module docstring; ``returns`` (sessions x symbols) and
    ``benchmark_returns`` (sessions) are the window's daily returns, for the tracking error."""
    symbols = list(symbols)
    cov = np.asarray(cov, float)
    wb, wa, ws = _vector(before, symbols), _vector(after, symbols), _vector(solution, symbols)
    cb, sb = contributions(wb, cov)
    ca, sa = contributions(wa, cov)
    rows = [
        {
            "symbol": s, "sector": sectors.get(s) or "", "weight_before": _r(wb[i]), "weight_after": _r(wa[i]),
            "before": _r(cb[i]), "after": _r(ca[i]), "share_before": _r(sb[i]), "share_after": _r(sa[i]),
        }
        for i, s in enumerate(symbols)
        if abs(wb[i]) > 1e-12 or abs(wa[i]) > 1e-12
    ]
    rows.sort(key=lambda r: -max(abs(r["before"] or 0.0), abs(r["after"] or 0.0)))
    te = None
    if benchmark and returns is not None and benchmark_returns is not None and len(benchmark_returns) > 2:
        r, rb = np.asarray(returns, float), np.asarray(benchmark_returns, float)
        te = {"benchmark": benchmark, "before": _r(tracking_error(wb, r, rb)), "after": _r(tracking_error(wa, r, rb)),
              "sessions": len(rb)}
    known = set(symbols)
    unpriced = sorted(s for s, w in {**before, **after}.items() if s not in known and abs(float(w)) > 1e-12)
    return {
        "volatility": {"before": _r(volatility(wb, cov)), "after": _r(volatility(wa, cov)),
                       "solution": _r(volatility(ws, cov))},
        "contributions": rows,
        "sectors": sector_rows(symbols, wb, wa, sectors, constraints),
        "tracking_error": te,
        "binding": binding_constraints(symbols, ws, constraints, sectors),
        "unpriced": unpriced,
    }
