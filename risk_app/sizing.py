"""Position sizing (pure core): volatility targeting, a max weight per position, a Kelly cap.

Applied by portfolio construction to every proposal, after the optimiser and
before trades are rounded to lots.  Order of operations, and why:

1. **Max weight cap** clips each |weight| to ``max_weight``.  The excess is
   *left in cash*, not redistributed: spreading it over the other names would
   change the optimiser's relative bets.
2. **Volatility targeting** scales the portfolio by one factor ``s`` so that its
   annualised volatility (from the returns covariance) equals ``target_vol``.
   Capped names stay at their cap while the others scale, so the caps keep
   holding when ``s > 1``; ``s`` is then found by bisection (vol grows with
   ``s`` for any portfolio whose risk is not hedged away by scaling).  The
   gross exposure never exceeds ``max_gross`` unless ``allow_leverage`` is set;
   when a cap or ``max_gross`` binds first the result sits below the target
   and says so in its notes.
3. **Fractional Kelly cap** (optional) scales *down* only, to at most
   ``kelly_fraction`` times the growth-optimal leverage of the portfolio's
   direction, ``w'mu / w'Sigma w`` (annual mu and Sigma).  A direction with no
   positive expected return is cut to cash.

Volatility is the annualised standard deviation of daily simple returns:
``sqrt(w' Sigma_daily w * periods_per_year)`` with the sample covariance
(``ddof=1``) over the last ``lookback`` days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from desk.interfaces import PortfolioSnapshot, Sizer, TargetWeights


@dataclass(frozen=True, slots=True)
class SizingConfig:
    target_vol: float | None = 0.10  # annual, e.g. 0.10 = 10%; None = no vol targeting
    max_weight: float | None = None  # per position, |w| of NAV
    max_gross: float = 1.0  # sum |w|; a cash account cannot go above 1
    allow_leverage: bool = False  # True: max_gross no longer binds the vol target's scale-up
    kelly_fraction: float | None = None  # e.g. 0.5 = half Kelly
    lookback: int = 252  # trading days of returns for the covariance
    periods_per_year: int = 252


@dataclass(frozen=True, slots=True)
class SizingResult:
    weights: np.ndarray
    scale: float  # the vol-target factor applied to the uncapped names
    vol_before: float  # annual, after the cap, before scaling
    vol_after: float  # annual, final
    notes: tuple[str, ...] = ()


def portfolio_vol(weights: np.ndarray, cov_annual: np.ndarray) -> float:
    return math.sqrt(max(0.0, float(weights @ cov_annual @ weights)))


def cap_weights(weights: np.ndarray, max_weight: float | None) -> np.ndarray:
    """Clip each |weight| to ``max_weight``; the excess stays in cash."""
    w = np.asarray(weights, dtype=np.float64)
    return w.copy() if max_weight is None else np.sign(w) * np.minimum(np.abs(w), max_weight)


def _scaled(w0: np.ndarray, s: float, cap: float) -> np.ndarray:
    return np.sign(w0) * np.minimum(np.abs(w0) * s, cap)


def vol_target(
    weights: np.ndarray,
    cov_annual: np.ndarray,
    target_vol: float,
    *,
    max_weight: float | None = None,
    max_gross: float = 1.0,
    allow_leverage: bool = False,
) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """(weights, scale, notes): the largest scale with vol <= target, caps and gross holding."""
    w0 = cap_weights(weights, max_weight)
    w0[np.abs(w0) < 1e-12] = 0.0  # dust: no risk to speak of, and it would overflow the scale
    cap = math.inf if max_weight is None else float(max_weight)
    gmax = math.inf if allow_leverage else float(max_gross)
    vol0 = portfolio_vol(w0, cov_annual)
    if vol0 <= 0.0:
        return w0, 1.0, ("no risk to scale: volatility is zero",)

    def ok(s: float) -> bool:
        w = _scaled(w0, s, cap)
        return np.abs(w).sum() <= gmax * (1 + 1e-12) and portfolio_vol(w, cov_annual) <= target_vol * (1 + 1e-12)

    s_vol = target_vol / vol0
    gross0 = float(np.abs(w0).sum())
    if max_weight is None or s_vol <= 1.0:
        # Scaling down, or nothing capped: weights stay proportional, the answer is closed-form.
        s = min(s_vol, gmax / gross0 if gross0 > 0 else math.inf)
    else:
        nz = np.abs(w0) > 0
        s_sat = float((cap / np.abs(w0[nz])).max())  # beyond this every name sits at its cap
        if ok(s_sat):
            s = s_sat
        else:
            lo, hi = 1.0 if ok(1.0) else 0.0, s_sat
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if ok(mid) else (lo, mid)
            s = lo
    w = _scaled(w0, s, cap)
    notes = []
    vol = portfolio_vol(w, cov_annual)
    if vol < target_vol * (1 - 1e-6):
        why = "max gross" if np.abs(w).sum() >= gmax * (1 - 1e-9) else "max weight caps"
        notes.append(f"vol target {target_vol:.2%} not reached ({vol:.2%}): {why} binds")
    return w, s, tuple(notes)


def kelly_scale(weights: np.ndarray, mu_annual: np.ndarray, cov_annual: np.ndarray, fraction: float) -> float:
    """``fraction`` x the growth-optimal leverage of this direction, never negative."""
    var = float(weights @ cov_annual @ weights)
    if var <= 0:
        return math.inf
    return max(0.0, fraction * float(weights @ mu_annual) / var)


def size_weights(
    weights: np.ndarray,
    cov_annual: np.ndarray,
    config: SizingConfig,
    *,
    mu_annual: np.ndarray | None = None,
) -> SizingResult:
    """Cap, vol-target, Kelly-cap an array of weights (module docstring has the order)."""
    w = cap_weights(weights, config.max_weight)
    vol_before = portfolio_vol(w, cov_annual)
    notes: list[str] = []
    scale = 1.0
    if config.target_vol is not None:
        w, scale, n = vol_target(
            w, cov_annual, config.target_vol, max_weight=config.max_weight,
            max_gross=config.max_gross, allow_leverage=config.allow_leverage,
        )
        notes.extend(n)
    elif not config.allow_leverage and np.abs(w).sum() > config.max_gross:
        w = w * (config.max_gross / np.abs(w).sum())
        notes.append(f"scaled to max gross {config.max_gross:g}")
    if config.kelly_fraction is not None:
        if mu_annual is None:
            raise ValueError("a Kelly cap needs expected returns")
        k = kelly_scale(w, mu_annual, cov_annual, config.kelly_fraction)
        if k < 1.0:
            w = w * k
            notes.append(f"fractional Kelly ({config.kelly_fraction:g}) cut exposure to {k:.1%}")
    return SizingResult(weights=w, scale=scale, vol_before=vol_before, vol_after=portfolio_vol(w, cov_annual), notes=tuple(notes))


def annual_moments(prices, symbols: list[str], lookback: int, periods_per_year: int) -> tuple[np.ndarray, np.ndarray]:
    """Annualised mean and sample covariance of daily simple returns over the last ``lookback`` days."""
    rets = prices[symbols].pct_change(fill_method=None).iloc[1:].iloc[-lookback:]
    return (rets.mean().to_numpy() * periods_per_year, rets.cov().to_numpy() * periods_per_year)


class VolTargetSizer(Sizer):
    """The ``Sizer`` port: ``SizingConfig`` applied to an optimiser's ``TargetWeights``.

    Symbols without price history in ``prices`` cannot be risk-sized and are set
    to zero weight, with a note (so the proposal shows it).
    """

    def __init__(self, config: SizingConfig | None = None, *, expected_returns: Mapping[str, float] | None = None):
        self.config = config or SizingConfig()
        self.expected_returns = expected_returns

    def size(
        self,
        target: TargetWeights,
        *,
        prices,
        snapshot: PortfolioSnapshot | None = None,
        expected_returns: Mapping[str, float] | None = None,
    ) -> TargetWeights:
        cfg = self.config
        known = [s for s, w in target.weights.items() if s in prices.columns and prices[s].notna().sum() > 2]
        dropped = [s for s, w in target.weights.items() if s not in known and w != 0]
        if not known:
            return TargetWeights(weights={s: 0.0 for s in target.weights}, strategy=target.strategy,
                                 notes=(*target.notes, "no price history: nothing sized"))
        mu, cov = annual_moments(prices, known, cfg.lookback, cfg.periods_per_year)
        given = expected_returns or self.expected_returns
        if given is not None:
            mu = np.array([float(given.get(s, 0.0)) for s in known])
        w = np.array([float(target.weights[s]) for s in known])
        res = size_weights(w, cov, cfg, mu_annual=mu if cfg.kelly_fraction is not None else None)
        weights = {s: 0.0 for s in target.weights}
        weights.update(zip(known, res.weights.tolist()))
        notes = list(target.notes) + list(res.notes)
        if dropped:
            notes.append(f"no price history, set to 0: {', '.join(dropped)}")
        exp_ret = float(res.weights @ mu)
        return TargetWeights(
            weights=weights, strategy=target.strategy, expected_return=exp_ret, volatility=res.vol_after,
            sharpe=exp_ret / res.vol_after if res.vol_after > 0 else None, notes=tuple(notes),
        )
