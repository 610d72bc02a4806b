"""Price window, expected returns and risk models, annualised over 252 sessions.

The hot estimators (sample covariance, mean historical return, Ledoit-Wolf, the
exponentially weighted covariance) are written over numpy arrays: PyPortfolioOpt's
pandas versions cost ~12 ms for 20 instruments and its ``exp_cov`` loops over every
pair (minutes at 500 instruments). Each one reproduces PyPortfolioOpt's formula
exactly and the tests compare them with it. CAPM and EMA returns call
PyPortfolioOpt directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import OptimisationError

TRADING_DAYS = 252
DEFAULT_LOOKBACK_DAYS = 3 * TRADING_DAYS
MIN_RETURN_ROWS = 30

RISK_MODELS = ("sample", "ledoit_wolf", "exp_cov")
RETURN_MODELS = ("mean_historical", "ema", "capm")


@dataclass(frozen=True, slots=True)
class PriceWindow:
    """The closes an optimisation uses, their daily returns, and what was left out and why."""

    symbols: tuple[str, ...]
    prices: np.ndarray  # rows x symbols
    returns: np.ndarray  # (rows - 1) x symbols, simple daily returns
    dropped: tuple[str, ...] = ()

    @property
    def returns_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.returns, columns=list(self.symbols))


def price_window(
    prices: pd.DataFrame, lookback_days: int = DEFAULT_LOOKBACK_DAYS, min_rows: int = MIN_RETURN_ROWS
) -> PriceWindow:
    """The last ``lookback_days`` daily returns (so ``lookback_days + 1`` closes).

    Gaps inside an instrument's history are carried forward (a halted stock kept its
    last price); an instrument with no close at the start of the window is left out
    and named in ``dropped`` rather than shortening everyone's window.
    """
    if not isinstance(prices, pd.DataFrame) or prices.shape[1] == 0:
        raise OptimisationError("no_instruments", "There are no instruments with prices to optimise.")
    # numpy from here on: the pandas version (sort, astype, ffill, dropna) cost ~2 ms a call,
    # most of an equal-weight backtest's rebalance.
    frame = prices if prices.index.is_monotonic_increasing else prices.sort_index()
    values = frame.to_numpy()[-(lookback_days + 1) :]
    if values.dtype != np.float64:  # Decimals or None in object columns: pandas' conversion
        values = frame.iloc[-(lookback_days + 1) :].astype(float).to_numpy(dtype=float)
    values = values.copy()
    names = [str(c) for c in frame.columns]
    nan = np.isnan(values)
    if values.shape[0] == 0:
        dropped, names = tuple(names), []  # no closes at all: every instrument is left out
    elif nan.any():
        # Carry each column's last close forward over gaps.
        rows = np.where(nan, 0, np.arange(values.shape[0])[:, None])
        np.maximum.accumulate(rows, axis=0, out=rows)
        values = np.take_along_axis(values, rows, axis=0)
        lead = np.isnan(values)  # no close yet at that row: only leading gaps remain
        empty = lead.all(axis=0)
        partial = lead.any(axis=0) & ~empty
        dropped = tuple(n for n, e in zip(names, empty) if e) + tuple(n for n, p in zip(names, partial) if p)
        keep = ~lead.any(axis=0)
        if not keep.all():
            values = values[:, keep]
            names = [n for n, k in zip(names, keep) if k]
    else:
        dropped = ()
    if not names:
        raise OptimisationError(
            "no_instruments", "None of the instruments has prices covering the lookback window."
        )
    nonpos = values <= 0
    if nonpos.any():
        bad = [n for n, b in zip(names, nonpos.any(axis=0)) if b]
        raise OptimisationError(
            "bad_prices", f"Prices must be positive, but {', '.join(bad)} has a zero or negative close."
        )
    n_returns = values.shape[0] - 1
    if n_returns < min_rows:
        raise OptimisationError(
            "too_few_prices",
            f"Only {max(n_returns, 0)} days of price history are available; "
            f"at least {min_rows} are needed to estimate risk and return.",
        )
    returns = values[1:] / values[:-1] - 1.0
    return PriceWindow(tuple(names), values, returns, dropped)


def _ewm_weights(n_rows: int, span: float) -> np.ndarray:
    # pandas' ewm(span, adjust=True): weight (1 - alpha)^age, normalised.
    alpha = 2.0 / (span + 1.0)
    w = (1.0 - alpha) ** np.arange(n_rows - 1, -1, -1, dtype=float)
    return w / w.sum()


def expected_returns(
    window: PriceWindow,
    model: str = "mean_historical",
    *,
    risk_free_rate: float = 0.0,
    span: int = 500,
    market_returns: np.ndarray | None = None,
) -> np.ndarray:
    """Annualised expected returns, compounded (PyPortfolioOpt's ``compounding=True``)."""
    r = window.returns
    if model == "mean_historical":
        # Geometric mean: the return that compounds to what the window actually did.
        growth = np.prod(1.0 + r, axis=0)
        return growth ** (TRADING_DAYS / r.shape[0]) - 1.0
    if model == "ema":
        daily = _ewm_weights(r.shape[0], span) @ r
        return (1.0 + daily) ** TRADING_DAYS - 1.0
    if model == "capm":
        from pypfopt import expected_returns as pf_returns

        market = None
        if market_returns is not None:
            market = pd.DataFrame({"mkt": np.asarray(market_returns, dtype=float)})
        mu = pf_returns.capm_return(
            window.returns_frame,
            market_prices=market,
            returns_data=True,
            risk_free_rate=risk_free_rate,
            compounding=True,
            frequency=TRADING_DAYS,
        )
        return mu.to_numpy(dtype=float)
    raise ValueError(f"unknown return model {model!r}")


def risk_matrix(window: PriceWindow, model: str = "ledoit_wolf", *, span: int = 180) -> np.ndarray:
    """Annualised covariance of daily returns under the named risk model."""
    r = window.returns
    if model == "sample":
        cov = np.atleast_2d(np.cov(r, rowvar=False))
    elif model == "ledoit_wolf":
        cov = _ledoit_wolf(r)
    elif model == "exp_cov":
        # PyPortfolioOpt's exp_cov: an EWMA of products of deviations from the full-window mean.
        dev = r - r.mean(axis=0)
        cov = (dev * _ewm_weights(r.shape[0], span)[:, None]).T @ dev
    else:
        raise ValueError(f"unknown risk model {model!r}")
    return cov * TRADING_DAYS


def _ledoit_wolf(r: np.ndarray) -> np.ndarray:
    """scikit-learn's ``ledoit_wolf`` (what PyPortfolioOpt calls), one matrix product fewer.

    Shrinks the (ddof 0) sample covariance towards ``mean variance * I`` by the
    Ledoit-Wolf (2004) optimal intensity.
    """
    x = r - r.mean(axis=0)
    t, p = x.shape
    emp = x.T @ x / t
    x2 = x**2
    trace = x2.sum(axis=0) / t
    mu = trace.sum() / p
    # sum((X2'X2)_ij) = sum_t (sum_i x2_ti)^2: O(t p) rather than a second p x p product.
    beta_ = float(np.square(x2.sum(axis=1)).sum())
    delta_ = float((emp**2).sum())  # = sum((X'X)^2) / t^2
    beta = (beta_ / t - delta_) / (p * t)
    delta = (delta_ - 2.0 * mu * trace.sum() + p * mu**2) / p
    shrinkage = 0.0 if beta == 0 else min(beta, delta) / delta
    shrunk = (1.0 - shrinkage) * emp
    shrunk.flat[:: p + 1] += shrinkage * mu
    return shrunk


def check_covariance(cov: np.ndarray, symbols: tuple[str, ...], model: str) -> None:
    """Refuse a covariance the optimisers cannot trust: singular or with dead instruments."""
    variances = np.diag(cov)
    flat = [s for s, v in zip(symbols, variances) if not v > 0]
    if flat:
        raise OptimisationError(
            "singular_covariance",
            f"{', '.join(flat[:5])} did not move at all over the lookback window, "
            "so its risk cannot be estimated; remove it or lengthen the window.",
        )
    # Scale to a correlation matrix so the test does not depend on price levels.
    d = 1.0 / np.sqrt(variances)
    corr = cov * d[:, None] * d[None, :]
    if not _positive_definite(corr):
        hint = " or use Ledoit-Wolf shrinkage" if model != "ledoit_wolf" else ""
        raise OptimisationError(
            "singular_covariance",
            "The risk model is singular: some instruments move in lockstep, or there are fewer "
            f"days of history than instruments. Lengthen the lookback window{hint}.",
        )


def _positive_definite(corr: np.ndarray, floor: float = 1e-10) -> bool:
    # A Cholesky factorisation is cheaper than eigenvalues at 500 names and fails
    # exactly when the smallest eigenvalue is below ``floor``.
    try:
        np.linalg.cholesky(corr - floor * np.eye(corr.shape[0]))
    except np.linalg.LinAlgError:
        return False
    return True
