"""Black-Litterman: the desk's aggregated views blended into a prior.

How a view becomes a Black-Litterman view (``view_returns``)
--------------------------------------------------------------
Each ``View`` (score in [-1, 1], confidence in [0, 1]) becomes an *absolute* view
on its instrument's annual expected return. The score is an expected excess return
of ``clip(score, -1, 1) * view_scale`` (default 10% a year per unit of score), over
an anchor chosen by ``view_anchor``:

- ``"prior"`` (default): ``Q = prior_i + score * view_scale`` -- "this stock will beat
  its equilibrium return by 5% a year" for a score of +0.5. A positive score always
  tilts towards the stock and a zero score confirms the prior.
- ``"risk_free"``: ``Q = risk_free_rate + score * view_scale`` -- "this stock will
  beat cash by 5% a year". Literal, but a mildly positive score on a stock whose
  equilibrium return is higher is then a bearish view.

The Black-Litterman returns are total returns (the prior includes the risk-free
rate), so the anchors are total returns too. The view's confidence is its Idzorek
confidence (the share of the way from prior to view the posterior moves, for that
view alone), clipped to [0, 0.999]: a confidence of exactly 1 would make the
view's uncertainty zero and the posterior ignore the prior.
Views on instruments outside the price window are ignored.

Priors: ``"market"`` is the market-implied equilibrium ``delta * Sigma * w_mkt + rf``
from market capitalisations; ``"equal"`` is the same with an equally weighted
market, for when no capitalisations are known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from desk.interfaces import ConfigError, View

DEFAULT_VIEW_SCALE = 0.10
DEFAULT_RISK_AVERSION = 2.5  # He and Litterman's world-market delta
DEFAULT_TAU = 0.05
MAX_CONFIDENCE = 0.999


def view_excess_return(view: View, scale: float = DEFAULT_VIEW_SCALE) -> float:
    """The annual expected excess return a view asserts: ``clip(score) * scale``."""
    return float(np.clip(view.score, -1.0, 1.0)) * scale


def view_returns(
    views: Mapping[str, View],
    symbols: Sequence[str],
    *,
    risk_free_rate: float = 0.0,
    scale: float = DEFAULT_VIEW_SCALE,
    anchor: Sequence[float] | None = None,
) -> tuple[dict[str, float], list[float]]:
    """Absolute views (total annual returns) and Idzorek confidences, in ``symbols`` order.

    ``anchor`` is each symbol's return the score is added to (the prior); without it
    the risk-free rate.
    """
    absolute, confidences = {}, []
    for i, symbol in enumerate(symbols):
        view = views.get(symbol)
        if view is None:
            continue
        base = risk_free_rate if anchor is None else float(anchor[i])
        absolute[symbol] = base + view_excess_return(view, scale)
        confidences.append(float(np.clip(view.confidence, 0.0, MAX_CONFIDENCE)))
    return absolute, confidences


def prior_returns(
    cov: np.ndarray,
    symbols: Sequence[str],
    *,
    prior: str = "equal",
    market_caps: Mapping[str, float] | None = None,
    risk_aversion: float = DEFAULT_RISK_AVERSION,
    risk_free_rate: float = 0.0,
) -> np.ndarray:
    frame = pd.DataFrame(cov, index=list(symbols), columns=list(symbols))
    if prior == "equal":
        caps = pd.Series(1.0, index=list(symbols))
    elif prior == "market":
        missing = [s for s in symbols if not (market_caps or {}).get(s)]
        if missing:
            raise ConfigError(
                "market_caps", f"the market-implied prior needs a market capitalisation for {', '.join(missing[:5])}"
            )
        caps = pd.Series({s: float(market_caps[s]) for s in symbols})
    else:
        raise ConfigError("prior", "must be 'equal' or 'market'")
    from pypfopt.black_litterman import market_implied_prior_returns  # heavy (cvxpy, scipy): only when used

    return market_implied_prior_returns(caps, risk_aversion, frame, risk_free_rate).to_numpy(dtype=float)


def posterior(
    cov: np.ndarray,
    symbols: Sequence[str],
    views: Mapping[str, View],
    *,
    prior: str = "equal",
    market_caps: Mapping[str, float] | None = None,
    risk_aversion: float = DEFAULT_RISK_AVERSION,
    risk_free_rate: float = 0.0,
    view_scale: float = DEFAULT_VIEW_SCALE,
    view_anchor: str = "prior",
    tau: float = DEFAULT_TAU,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Posterior expected returns and covariance, and how many views were used."""
    pi = prior_returns(
        cov, symbols, prior=prior, market_caps=market_caps, risk_aversion=risk_aversion, risk_free_rate=risk_free_rate
    )
    if view_anchor not in ("prior", "risk_free"):
        raise ConfigError("view_anchor", "must be 'prior' or 'risk_free'")
    absolute, confidences = view_returns(
        views, symbols, risk_free_rate=risk_free_rate, scale=view_scale, anchor=pi if view_anchor == "prior" else None
    )
    if not absolute:
        return pi, cov, 0
    from pypfopt.black_litterman import BlackLittermanModel

    frame = pd.DataFrame(cov, index=list(symbols), columns=list(symbols))
    model = BlackLittermanModel(
        frame,
        pi=pd.Series(pi, index=list(symbols)),
        absolute_views=absolute,
        omega="idzorek",
        view_confidences=confidences,
        tau=tau,
        risk_aversion=risk_aversion,
    )
    mu = model.bl_returns().to_numpy(dtype=float)
    sigma = model.bl_cov().to_numpy(dtype=float)
    return mu, sigma, len(absolute)
