"""Portfolio constraints: parsed once from the portfolio's config, applied to every solver.

Config keys (all optional)::

    {"weight_bounds": [0.0, 0.25],          # every instrument, as fractions of NAV
     "asset_bounds": {"AAPL": [0.0, 0.10]}, # overrides per instrument
     "sector_mapper": {"AAPL": "Tech"},     # usually filled in from Instrument.sector
     "sector_upper": {"Tech": 0.30}, "sector_lower": {"Energy": 0.05},
     "long_short": false, "gross_limit": 1.6,  # sum |w| <= gross (long/short only)
     "l2_gamma": 0.0,                       # L2 regularisation, spreads weight out
     "turnover_cost": 0.0}                  # cost per unit of turnover vs current weights

Weights always sum to 1 (net exposure 100% of NAV); in a long/short portfolio the
shorts fund extra longs up to the gross limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from desk.interfaces import ConfigError

from .errors import OptimisationError

if TYPE_CHECKING:  # cvxpy is imported by the solvers that build these, not by every user of Constraints
    import cvxpy as cp

TOLERANCE = 1e-6


def _pair(name: str, value: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(name, "must be a pair [lower, upper] of numbers") from None
    if lo > hi:
        raise ConfigError(name, f"lower bound {lo} is above upper bound {hi}")
    return lo, hi


def _fractions(name: str, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError(name, "must map names to fractions of NAV")
    try:
        return {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise ConfigError(name, "every value must be a number") from None


@dataclass(frozen=True)
class Constraints:
    weight_bounds: tuple[float, float] = (0.0, 1.0)
    asset_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    sector_mapper: Mapping[str, str] = field(default_factory=dict)
    sector_upper: Mapping[str, float] = field(default_factory=dict)
    sector_lower: Mapping[str, float] = field(default_factory=dict)
    long_short: bool = False
    gross_limit: float | None = None
    l2_gamma: float = 0.0
    turnover_cost: float = 0.0
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Constraints:
        """Parse and validate; raises ``ConfigError`` naming the bad field."""
        config = dict(config or {})
        known = set(cls.__dataclass_fields__) - {"source"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown constraint (known: {', '.join(sorted(known))})")
        long_short = bool(config.get("long_short", False))
        bounds = _pair("weight_bounds", config.get("weight_bounds", (-1.0, 1.0) if long_short else (0.0, 1.0)))
        asset_bounds = {str(s): _pair(f"asset_bounds.{s}", b) for s, b in dict(config.get("asset_bounds") or {}).items()}
        if not long_short:
            for name, (lo, _hi) in [("weight_bounds", bounds), *((f"asset_bounds.{s}", b) for s, b in asset_bounds.items())]:
                if lo < 0:
                    raise ConfigError(name, "a long-only portfolio cannot have a negative lower bound")
        gross = config.get("gross_limit")
        if gross is not None:
            gross = float(gross)
            if gross < 1.0:
                raise ConfigError("gross_limit", "must be at least 1 (100% of NAV), since weights sum to 1")
        l2 = float(config.get("l2_gamma", 0.0) or 0.0)
        cost = float(config.get("turnover_cost", 0.0) or 0.0)
        if l2 < 0 or cost < 0:
            raise ConfigError("l2_gamma" if l2 < 0 else "turnover_cost", "must not be negative")
        return cls(
            weight_bounds=bounds,
            asset_bounds=asset_bounds,
            sector_mapper={str(k): str(v) for k, v in dict(config.get("sector_mapper") or {}).items()},
            sector_upper=_fractions("sector_upper", config.get("sector_upper") or {}),
            sector_lower=_fractions("sector_lower", config.get("sector_lower") or {}),
            long_short=long_short,
            gross_limit=gross,
            l2_gamma=l2,
            turnover_cost=cost,
            source=config,
        )

    def merged(self, config: Mapping[str, Any] | None) -> Constraints:
        """These constraints with the keys of ``config`` overriding them."""
        if not config:
            return self
        # Merge the configs, not the parsed values: a default filled in here (long-only
        # bounds) must not override what the merged config implies (long/short bounds).
        return Constraints.from_config({**self.source, **config})

    # -- arrays over one universe -------------------------------------------------

    def bounds(self, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.asset_bounds.get(s, self.weight_bounds) for s in symbols]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    def sector_masks(self, symbols: Sequence[str]) -> list[tuple[str, np.ndarray, float | None, float | None]]:
        sectors = sorted(set(self.sector_upper) | set(self.sector_lower))
        return [
            (
                sec,
                np.array([self.sector_mapper.get(s) == sec for s in symbols]),
                self.sector_upper.get(sec),
                self.sector_lower.get(sec),
            )
            for sec in sectors
        ]

    def check_feasible(self, symbols: Sequence[str]) -> None:
        """Catch the infeasible sets a trader can see at a glance, with the reason."""
        lo, hi = self.bounds(symbols)
        if lo.sum() > 1 + TOLERANCE:
            raise OptimisationError(
                "infeasible",
                f"The per-instrument minimum weights add up to {lo.sum():.0%}, more than the whole portfolio; lower them.",
            )
        if hi.sum() < 1 - TOLERANCE:
            raise OptimisationError(
                "infeasible",
                f"The per-instrument maximum weights add up to only {hi.sum():.0%}, so the portfolio cannot be fully "
                f"invested across {len(symbols)} instruments; raise them or add instruments.",
            )
        if not self.long_short and self.sector_upper:
            # Long-only: the most the whole portfolio can hold is each sector's cap
            # (capped by its members' upper bounds) plus everything without a cap.
            capacity = 0.0
            capped = np.zeros(len(symbols), dtype=bool)
            for _sec, mask, upper, _lower in self.sector_masks(symbols):
                if upper is not None:
                    capacity += min(upper, hi[mask].sum())
                    capped |= mask
            capacity += hi[~capped].sum()
            if capacity < 1 - TOLERANCE:
                raise OptimisationError(
                    "infeasible",
                    f"The sector caps and per-instrument limits allow only {capacity:.0%} of the portfolio "
                    "to be invested; raise a sector cap.",
                )

    def cvxpy_constraints(self, w: cp.Variable, symbols: Sequence[str], k: cp.Expression | float = 1.0) -> list:
        """Linear constraints on ``w``; ``k`` scales them for max Sharpe's homogeneous form."""
        import cvxpy as cp

        lo, hi = self.bounds(symbols)
        cons = [w >= lo * k, w <= hi * k]
        for _sec, mask, upper, lower in self.sector_masks(symbols):
            if not mask.any():
                continue
            if upper is not None:
                cons.append(cp.sum(w[mask]) <= upper * k)
            if lower is not None:
                cons.append(cp.sum(w[mask]) >= lower * k)
        if self.gross_limit is not None:
            cons.append(cp.norm1(w) <= self.gross_limit * k)
        return cons

    def breaches(self, symbols: Sequence[str], weights: np.ndarray) -> list[str]:
        """Sentences for every constraint ``weights`` break (the final safety net)."""
        out = []
        lo, hi = self.bounds(symbols)
        for s, w, a, b in zip(symbols, weights, lo, hi):
            if w < a - TOLERANCE or w > b + TOLERANCE:
                out.append(f"{s} at {w:.2%} is outside its limits {a:.2%} to {b:.2%}")
        for sec, mask, upper, lower in self.sector_masks(symbols):
            total = float(weights[mask].sum())
            if upper is not None and total > upper + TOLERANCE:
                out.append(f"sector {sec} at {total:.2%} is above its cap of {upper:.2%}")
            if lower is not None and total < lower - TOLERANCE:
                out.append(f"sector {sec} at {total:.2%} is below its floor of {lower:.2%}")
        gross = float(np.abs(weights).sum())
        if self.gross_limit is not None and gross > self.gross_limit + TOLERANCE:
            out.append(f"gross exposure {gross:.2%} is above the limit of {self.gross_limit:.2%}")
        if not self.long_short and (weights < -TOLERANCE).any():
            out.append("a long-only portfolio would hold a short position")
        return out
