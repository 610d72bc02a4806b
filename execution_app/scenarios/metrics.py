"""Performance of a scenario run: the metrics every backtest, benchmark and paper run is compared on.

Inputs are a run's daily equity (``pd.Series`` of account values indexed by
date), its benchmark's daily levels (the S&P 500 index for the demo) and its
trades. Statistics follow empyrical-reloaded's definitions where they are the ones
we want (computed here in numpy: importing empyrical imports scipy.stats, a second
of every backtest's start; the tests hold the two equal); tracking error,
information ratio, turnover and costs are our own (empyrical has no annualised
form of the first two, and nothing for trades).

Conventions, stated once:

- Returns are simple daily returns of the equity series; a benchmark is aligned
  to the run's dates (the dates both have) *before* taking returns, so both
  cover the same intervals.
- Annualisation uses ``periods_per_year`` (252 trading days), and a run's
  length in years is ``number of returns / periods_per_year`` (empyrical's CAGR
  convention).
- ``risk_free`` and ``required_return`` are annual rates, turned into a
  per-period rate by compounding: ``(1 + r) ** (1 / periods_per_year) - 1``.
- Drawdowns are negative fractions (-0.25 is 25 % below the running peak).
- Undefined statistics (no dispersion, no drawdown, too few points) are NaN.
- Money (``total_costs``) is ``Decimal`` to the cent; everything else is float.

Pure: pandas and numpy in, numbers out; no Django, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from desk.money import cash, to_decimal

PERIODS_PER_YEAR = 252

# Row order of the comparison table (and keys of ``compute_metrics``).
METRIC_NAMES = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "beta",
    "alpha",
    "tracking_error",
    "information_ratio",
    "turnover",
    "annual_turnover",
    "total_costs",
)


# ---------------------------------------------------------------------------
# Series


def returns_from_equity(equity: pd.Series) -> pd.Series:
    """Simple period returns of an equity curve (first point dropped)."""
    values = pd.Series(equity, dtype="float64").sort_index()
    return values.pct_change().iloc[1:]


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Fall below the running peak at each date, as a fraction <= 0 (0 at a new high)."""
    values = pd.Series(equity, dtype="float64").sort_index()
    return values / values.cummax() - 1.0


def _per_period(annual_rate: float, periods_per_year: int) -> float:
    return (1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0 if annual_rate else 0.0


def _aligned_returns(equity: pd.Series, benchmark: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    both = pd.concat([pd.Series(equity, dtype="float64"), pd.Series(benchmark, dtype="float64")], axis=1, join="inner")
    both = both.sort_index().dropna()
    rets = both.pct_change().iloc[1:]
    return rets.iloc[:, 0].to_numpy(), rets.iloc[:, 1].to_numpy()


# --- empyrical's definitions, on 1-d arrays of simple returns (NaN = no return that period) ------------------


def _ep_cagr(rets: np.ndarray, periods_per_year: int) -> float:
    ending = np.nanprod(rets + 1.0)
    return float(ending ** (1.0 / (len(rets) / periods_per_year)) - 1.0)


def _ep_volatility(rets: np.ndarray, periods_per_year: int) -> float:
    if len(rets) < 2:
        return math.nan
    return float(np.nanstd(rets, ddof=1) * periods_per_year ** 0.5)


def _ep_std(values: np.ndarray) -> float:
    """Sample std, exactly 0 when every value is the same (not the mean's last-bit residue)."""
    std = np.nanstd(values, ddof=1)
    with np.errstate(invalid="ignore"):
        constant = np.nanmax(values) == np.nanmin(values) and np.isfinite(std)
    return 0.0 if constant else float(std)


def _ep_sharpe(rets: np.ndarray, risk_free: float, periods_per_year: int) -> float:
    if len(rets) < 2:
        return math.nan
    adj = rets - risk_free if risk_free else rets
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(np.nanmean(adj), _ep_std(adj)) * np.sqrt(periods_per_year))


def _ep_sortino(rets: np.ndarray, required: float, periods_per_year: int) -> float:
    if len(rets) < 2:
        return math.nan
    adj = rets - required if required else rets
    downside = np.sqrt(np.nanmean(np.square(np.clip(adj, -np.inf, 0)))) * np.sqrt(periods_per_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(np.nanmean(adj) * periods_per_year, downside))


def _ep_max_drawdown(rets: np.ndarray) -> float:
    levels = np.concatenate([[100.0], 100.0 * np.cumprod(np.where(np.isnan(rets), 0.0, rets) + 1.0)])
    peaks = np.fmax.accumulate(levels)
    return float(np.nanmin((levels - peaks) / peaks))


def _ep_calmar(rets: np.ndarray, periods_per_year: int) -> float:
    max_dd = _ep_max_drawdown(rets)
    if not max_dd < 0:
        return math.nan
    value = _ep_cagr(rets, periods_per_year) / abs(max_dd)
    return math.nan if np.isinf(value) else value


def _ep_alpha_beta(r: np.ndarray, b: np.ndarray, risk_free: float, periods_per_year: int) -> tuple[float, float]:
    independent = np.where(np.isnan(r), np.nan, b)
    residual = independent - np.nanmean(independent)
    variance = np.nanmean(np.square(residual))
    if not variance >= 1e-30:  # a flat benchmark: no beta, so no alpha either
        return math.nan, math.nan
    beta = float(np.nanmean(residual * r) / variance)
    adj_r = r - risk_free if risk_free else r
    adj_b = b - risk_free if risk_free else b
    alpha = float((np.nanmean(adj_r - beta * adj_b) + 1.0) ** periods_per_year - 1.0)
    return alpha, beta


def _years(n_returns: int, periods_per_year: int) -> float:
    return n_returns / periods_per_year


# ---------------------------------------------------------------------------
# Return and risk of one run


def total_return(equity: pd.Series) -> float:
    values = pd.Series(equity, dtype="float64").sort_index()
    if len(values) < 2 or values.iloc[0] == 0:
        return math.nan
    return float(values.iloc[-1] / values.iloc[0] - 1.0)


def cagr(equity: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Compound annual growth: ``(end / start) ** (1 / years) - 1``."""
    rets = returns_from_equity(equity).to_numpy()
    return _ep_cagr(rets, periods_per_year) if len(rets) else math.nan


def annual_volatility(equity: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Sample standard deviation of daily returns (ddof=1) times sqrt(periods_per_year)."""
    rets = returns_from_equity(equity).to_numpy()
    return _ep_volatility(rets, periods_per_year)


def sharpe_ratio(
    equity: pd.Series, *, risk_free: float = 0.0, periods_per_year: int = PERIODS_PER_YEAR
) -> float:
    """Mean excess daily return over its sample std, times sqrt(periods_per_year)."""
    rets = returns_from_equity(equity).to_numpy()
    return _ep_sharpe(rets, _per_period(risk_free, periods_per_year), periods_per_year)


def sortino_ratio(
    equity: pd.Series, *, required_return: float = 0.0, periods_per_year: int = PERIODS_PER_YEAR
) -> float:
    """Annualised mean excess return over annualised downside deviation.

    Downside deviation is ``sqrt(mean(min(r - required, 0) ** 2))`` over *all*
    days (empyrical's definition), not only the losing ones.
    """
    rets = returns_from_equity(equity).to_numpy()
    value = _ep_sortino(rets, _per_period(required_return, periods_per_year), periods_per_year)
    return float(value) if np.isfinite(value) else math.nan


def max_drawdown(equity: pd.Series) -> float:
    """Deepest fall from a running peak, as a fraction <= 0."""
    dd = drawdown_series(equity)
    return float(dd.min()) if len(dd) else math.nan


def calmar_ratio(equity: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """CAGR over |max drawdown|; NaN when the run never drew down."""
    rets = returns_from_equity(equity).to_numpy()
    if len(rets) < 1:
        return math.nan
    return _ep_calmar(rets, periods_per_year)


# ---------------------------------------------------------------------------
# Against a benchmark


def alpha_beta(
    equity: pd.Series,
    benchmark: pd.Series,
    *,
    risk_free: float = 0.0,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> tuple[float, float]:
    """CAPM alpha (annualised, ``(1 + mean daily alpha) ** periods_per_year - 1``) and beta.

    Beta is ``cov(r, b) / var(b)`` of daily excess returns; daily alpha is
    ``mean(r - rf - beta * (b - rf))``.
    """
    r, b = _aligned_returns(equity, benchmark)
    if len(r) < 2:
        return math.nan, math.nan
    return _ep_alpha_beta(r, b, _per_period(risk_free, periods_per_year), periods_per_year)


def beta(equity: pd.Series, benchmark: pd.Series, *, risk_free: float = 0.0) -> float:
    return alpha_beta(equity, benchmark, risk_free=risk_free)[1]


def alpha(
    equity: pd.Series, benchmark: pd.Series, *, risk_free: float = 0.0, periods_per_year: int = PERIODS_PER_YEAR
) -> float:
    return alpha_beta(equity, benchmark, risk_free=risk_free, periods_per_year=periods_per_year)[0]


def tracking_error(equity: pd.Series, benchmark: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Sample std (ddof=1) of daily active returns ``r - b``, times sqrt(periods_per_year)."""
    r, b = _aligned_returns(equity, benchmark)
    if len(r) < 2:
        return math.nan
    return float(np.std(r - b, ddof=1) * math.sqrt(periods_per_year))


def information_ratio(
    equity: pd.Series, benchmark: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR
) -> float:
    """Annualised mean active return over tracking error: ``mean(r - b) / std(r - b) * sqrt(P)``."""
    r, b = _aligned_returns(equity, benchmark)
    if len(r) < 2:
        return math.nan
    active = r - b
    sd = np.std(active, ddof=1)
    if not sd > 1e-15:
        return math.nan
    return float(active.mean() / sd * math.sqrt(periods_per_year))


# ---------------------------------------------------------------------------
# Trades
#
# A trade is a mapping or an object (FillReport, a backtest trade dict, a Fill
# row) carrying a quantity and a price under any of the names below, or its
# ``notional`` directly; costs are the commission/fees and, if present, an
# absolute slippage cost in money.

_QTY_NAMES = ("quantity", "qty", "last_qty", "shares")
_PX_NAMES = ("price", "px", "last_px", "fill_price")
_COST_NAMES = (("commission", "fees", "fee"), ("slippage_cost", "slippage"))


def _get(trade: Any, name: str) -> Any:
    if type(trade) is dict or isinstance(trade, Mapping):  # a dict without the ABC's check per call
        return trade.get(name)
    return getattr(trade, name, None)


def _first(trade: Any, names: Iterable[str]) -> Any:
    for name in names:
        value = _get(trade, name)
        if value is not None:
            return value
    return None


def trade_notional(trade: Any) -> Decimal:
    """|quantity × price| of one trade (or its ``notional``), as Decimal."""
    notional = _get(trade, "notional")
    if notional is None:
        qty, px = _first(trade, _QTY_NAMES), _first(trade, _PX_NAMES)
        if qty is None or px is None:
            raise ValueError(f"trade has no quantity and price or notional: {trade!r}")
        notional = to_decimal(qty) * to_decimal(px)
    return abs(to_decimal(notional))


def total_costs(trades: Iterable[Any]) -> Decimal:
    """Commission (or fees) plus slippage cost over all trades, to the cent."""
    total = Decimal(0)
    for trade in trades:
        for names in _COST_NAMES:
            value = _first(trade, names)
            if value is not None:
                total += to_decimal(value)
    return cash(total)


def turnover(trades: Iterable[Any], equity: pd.Series) -> float:
    """Gross traded notional over average equity, for the whole run.

    Two-way: investing all the capital once counts 1.0, selling it all again 2.0.
    """
    mean_equity = float(pd.Series(equity, dtype="float64").mean())
    if not mean_equity > 0:
        return math.nan
    traded = sum((trade_notional(t) for t in trades), Decimal(0))
    return float(traded) / mean_equity


def annual_turnover(
    trades: Iterable[Any], equity: pd.Series, *, periods_per_year: int = PERIODS_PER_YEAR
) -> float:
    """``turnover`` per year of the run (years = returns / periods_per_year)."""
    n = len(equity) - 1
    if n < 1:
        return math.nan
    return turnover(trades, equity) / _years(n, periods_per_year)


# ---------------------------------------------------------------------------
# All together, and side by side


def compute_metrics(
    equity: pd.Series,
    benchmark: pd.Series | None = None,
    trades: Iterable[Any] = (),
    *,
    risk_free: float = 0.0,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> dict[str, Any]:
    """Every metric of ``METRIC_NAMES`` for one run; benchmark-relative ones NaN without a benchmark."""
    trades = list(trades)
    turned = turnover(trades, equity)  # once: the annual figure is the same sum over the run's years
    out: dict[str, Any] = {
        "total_return": total_return(equity),
        "cagr": cagr(equity, periods_per_year=periods_per_year),
        "annual_volatility": annual_volatility(equity, periods_per_year=periods_per_year),
        "sharpe": sharpe_ratio(equity, risk_free=risk_free, periods_per_year=periods_per_year),
        "sortino": sortino_ratio(equity, periods_per_year=periods_per_year),
        "max_drawdown": max_drawdown(equity),
        "calmar": calmar_ratio(equity, periods_per_year=periods_per_year),
        "beta": math.nan,
        "alpha": math.nan,
        "tracking_error": math.nan,
        "information_ratio": math.nan,
        "turnover": turned,
        "annual_turnover": turned / _years(len(equity) - 1, periods_per_year) if len(equity) > 1 else math.nan,
        "total_costs": total_costs(trades),
    }
    if benchmark is not None:
        a, b = alpha_beta(equity, benchmark, risk_free=risk_free, periods_per_year=periods_per_year)
        out["alpha"], out["beta"] = a, b
        out["tracking_error"] = tracking_error(equity, benchmark, periods_per_year=periods_per_year)
        out["information_ratio"] = information_ratio(equity, benchmark, periods_per_year=periods_per_year)
    return out


def metrics_table(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Runs side by side: one column per run (in the given order), one row per metric.

    Each value is either a metrics dict (as from ``compute_metrics``) or a run
    dict with ``equity`` and optionally ``benchmark``, ``trades``, ``risk_free``,
    whose metrics are computed here. Rows follow ``METRIC_NAMES``, then any
    extra metrics in first-seen order; a metric a run lacks is NaN. Values are
    floats (Decimal costs included) so the frame sorts, formats and plots.
    """
    columns: dict[str, dict[str, float]] = {}
    extra: list[str] = []
    for name, run in runs.items():
        if isinstance(run.get("equity"), pd.Series):
            metrics: Mapping[str, Any] = compute_metrics(
                run["equity"], run.get("benchmark"), run.get("trades", ()), risk_free=run.get("risk_free", 0.0)
            )
        else:
            metrics = run
        columns[name] = {k: float(v) if v is not None else math.nan for k, v in metrics.items()}
        extra += [k for k in metrics if k not in METRIC_NAMES and k not in extra]
    rows = [m for m in METRIC_NAMES if any(m in c for c in columns.values())] + extra
    table = pd.DataFrame({name: [col.get(m, math.nan) for m in rows] for name, col in columns.items()}, index=rows)
    table.index.name = "metric"
    return table
