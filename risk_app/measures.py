"""Risk measures of a portfolio: exposure, concentration, VaR/CVaR, drawdown.

Pure numerics over a ``PortfolioSnapshot`` and a matrix of daily returns; the
live risk monitor and the pre-trade checks share them.

Conventions, stated once:

- **P&L scenarios** are ``R @ v``: each row of daily simple returns applied to the
  position values ``v`` in USD.  For one day at fixed quantities that is exact,
  not an approximation (a position's P&L is its value times its return).
- **VaR and CVaR** are losses, positive numbers in USD, 1-day horizon.  Historical
  VaR at confidence ``c`` is minus the ``1 - c`` quantile of the scenarios
  (numpy's default linear interpolation between order statistics); historical
  CVaR is minus the mean of the scenarios at or below that quantile.  Parametric
  figures assume normal P&L with the sample mean and standard deviation
  (``ddof=1``).  A portfolio that gains in every scenario has a negative VaR;
  nothing is clipped here.
- **Missing returns** (a symbol that did not trade that day) count as 0, so a
  short history narrows, rather than breaks, the scenario set.
- **Exposure** is measured at the mark: gross = sum |value|, net = sum value,
  leverage = gross / NAV.  Sector concentration is the gross value in a sector
  over NAV (a long and a short in one sector both concentrate risk there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import NormalDist

import numpy as np

from desk.interfaces import PortfolioSnapshot

CONFIDENCES = (0.95, 0.99)


@dataclass(frozen=True, slots=True)
class ReturnsMatrix:
    """Daily simple returns, dates x symbols, as one float array built once and reused."""

    symbols: tuple[str, ...]
    values: np.ndarray  # shape (T, N), float64, NaN replaced by 0
    index: Mapping[str, int] = field(default_factory=dict)
    # The same numbers symbol-major (N, T), contiguous: one symbol's history is one
    # cache-friendly row, which is what a per-order VaR check reads.
    by_symbol: np.ndarray | None = None

    def __post_init__(self):
        if self.by_symbol is None:
            object.__setattr__(self, "by_symbol", np.ascontiguousarray(np.asarray(self.values, dtype=np.float64).T))
        if not self.index:
            object.__setattr__(self, "index", {s: i for i, s in enumerate(self.symbols)})

    @classmethod
    def from_frame(cls, returns, lookback: int | None = None) -> "ReturnsMatrix":
        """From a pandas DataFrame of daily returns; keep the last ``lookback`` rows."""
        frame = returns if lookback is None else returns.iloc[-lookback:]
        values = np.ascontiguousarray(np.nan_to_num(frame.to_numpy(dtype=np.float64), nan=0.0))
        symbols = tuple(str(c) for c in frame.columns)
        return cls(symbols=symbols, values=values, index={s: i for i, s in enumerate(symbols)},
                   by_symbol=np.ascontiguousarray(values.T))

    def history(self, j: int) -> np.ndarray:
        """Symbol ``j``'s returns, length T."""
        return self.by_symbol[j]

    @classmethod
    def from_prices(cls, prices, lookback: int | None = 252) -> "ReturnsMatrix":
        """From a DataFrame of closes: returns are close-to-close, the first row dropped."""
        return cls.from_frame(prices.pct_change(fill_method=None).iloc[1:], lookback=lookback)

    def exposure_vector(self, values_usd: Mapping[str, float]) -> np.ndarray:
        """Position values aligned to the columns; symbols without history are left out."""
        v = np.zeros(len(self.symbols))
        for symbol, value in values_usd.items():
            j = self.index.get(symbol)
            if j is not None:
                v[j] += float(value)
        return v


def pnl_scenarios(returns: ReturnsMatrix, values_usd: Mapping[str, float]) -> np.ndarray:
    """One-day P&L in USD under each historical day's returns."""
    return returns.values @ returns.exposure_vector(values_usd)


def lower_quantile(pnl: np.ndarray, p: float, axis: int = 0) -> np.ndarray | float:
    """The ``p`` quantile along ``axis``, linear interpolation (numpy's default), via partition.

    ``np.quantile`` sorts a copy; partitioning at the two bracketing order
    statistics does the same job in a fraction of the time, which the pre-trade
    check needs (it runs per order).
    """
    n = pnl.shape[axis]
    h = (n - 1) * p
    lo = int(math.floor(h))
    hi = min(lo + 1, n - 1)
    part = np.partition(pnl, (lo, hi) if hi != lo else lo, axis=axis)
    a, b = np.take(part, lo, axis=axis), np.take(part, hi, axis=axis)
    return a + (b - a) * (h - lo)


def historical_var(pnl: np.ndarray, confidence: float = 0.95) -> float:
    return float(-lower_quantile(np.asarray(pnl, dtype=np.float64), 1.0 - confidence))


def historical_cvar(pnl: np.ndarray, confidence: float = 0.95) -> float:
    pnl = np.asarray(pnl, dtype=np.float64)
    q = lower_quantile(pnl, 1.0 - confidence)
    # A tolerance so the order statistic that *is* the quantile is counted in the tail.
    tail = pnl[pnl <= q + 1e-12 * max(1.0, abs(q))]
    return float(-tail.mean())


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(1.0 - confidence)


def parametric_var(pnl: np.ndarray, confidence: float = 0.95) -> float:
    pnl = np.asarray(pnl, dtype=np.float64)
    return float(-(pnl.mean() + _z(confidence) * pnl.std(ddof=1)))


def parametric_cvar(pnl: np.ndarray, confidence: float = 0.95) -> float:
    """Expected shortfall of a normal: mu - sigma * pdf(z) / (1 - c), as a loss."""
    pnl = np.asarray(pnl, dtype=np.float64)
    z = _z(confidence)
    return float(-(pnl.mean() - pnl.std(ddof=1) * NormalDist().pdf(z) / (1.0 - confidence)))


@dataclass(frozen=True, slots=True)
class VarReport:
    """Historical and parametric VaR/CVaR at 95% and 99%, 1-day, USD losses."""

    var_hist_95: float
    var_hist_99: float
    cvar_hist_95: float
    cvar_hist_99: float
    var_param_95: float
    var_param_99: float
    cvar_param_95: float
    cvar_param_99: float
    scenarios: int


def var_report(pnl: np.ndarray) -> VarReport:
    pnl = np.asarray(pnl, dtype=np.float64)
    return VarReport(
        var_hist_95=historical_var(pnl, 0.95),
        var_hist_99=historical_var(pnl, 0.99),
        cvar_hist_95=historical_cvar(pnl, 0.95),
        cvar_hist_99=historical_cvar(pnl, 0.99),
        var_param_95=parametric_var(pnl, 0.95),
        var_param_99=parametric_var(pnl, 0.99),
        cvar_param_95=parametric_cvar(pnl, 0.95),
        cvar_param_99=parametric_cvar(pnl, 0.99),
        scenarios=int(pnl.shape[0]),
    )


def drawdown_from_peak(nav: float | Decimal, peak_nav: float | Decimal | None) -> float:
    """Fraction below the peak NAV (0 when at or above it, or when no peak is known)."""
    nav_f = float(nav)
    peak = float(peak_nav) if peak_nav is not None else nav_f
    peak = max(peak, nav_f)
    return 0.0 if peak <= 0 else (peak - nav_f) / peak


def max_drawdown(nav_series: Sequence[float] | np.ndarray) -> float:
    """The deepest fall from a running peak over a NAV history, as a fraction."""
    nav = np.asarray(nav_series, dtype=np.float64)
    if nav.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(nav)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, (peaks - nav) / peaks, 0.0)
    return float(dd.max())


def position_values(
    snapshot: PortfolioSnapshot,
    *,
    include_open_orders: bool = False,
    marks: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Signed USD value per symbol at the mark; open orders optionally counted as if filled.

    Counting open orders gives the *committed* exposure that pre-trade checks
    must read, so that two orders that each fit cannot jointly breach a limit.
    """
    values = {s: float(p.quantity) * float(p.mark) for s, p in snapshot.positions.items()}
    if include_open_orders:
        for o in snapshot.open_orders:
            mark = _mark_for(o.symbol, snapshot, marks, o.limit_price or o.reference_price)
            values[o.symbol] = values.get(o.symbol, 0.0) + float(o.signed_quantity) * mark
    return values


def _mark_for(symbol: str, snapshot: PortfolioSnapshot, marks: Mapping[str, float] | None, fallback) -> float:
    pos = snapshot.positions.get(symbol)
    if pos is not None:
        return float(pos.mark)
    if marks and symbol in marks:
        return float(marks[symbol])
    return float(fallback) if fallback is not None else 0.0


def sector_of(symbol: str, snapshot: PortfolioSnapshot, sectors: Mapping[str, str] | None) -> str:
    if sectors and symbol in sectors:
        return sectors[symbol]
    pos = snapshot.positions.get(symbol)
    return pos.sector if pos is not None else ""


@dataclass(frozen=True, slots=True)
class ExposureReport:
    nav: float
    long: float
    short: float  # a positive number: the value of the shorts
    gross: float
    net: float
    gross_pct: float  # of NAV
    net_pct: float
    leverage: float
    weights: Mapping[str, float]  # signed value / NAV per instrument
    sector_weights: Mapping[str, float]  # gross value / NAV per sector


def exposures(
    snapshot: PortfolioSnapshot,
    *,
    include_open_orders: bool = False,
    sectors: Mapping[str, str] | None = None,
    marks: Mapping[str, float] | None = None,
) -> ExposureReport:
    values = position_values(snapshot, include_open_orders=include_open_orders, marks=marks)
    nav = float(snapshot.nav)
    long = sum(v for v in values.values() if v > 0)
    short = -sum(v for v in values.values() if v < 0)
    gross, net = long + short, long - short
    by_sector: dict[str, float] = {}
    for s, v in values.items():
        sec = sector_of(s, snapshot, sectors) or "Unclassified"
        by_sector[sec] = by_sector.get(sec, 0.0) + abs(v)
    inv = 1.0 / nav if nav > 0 else math.nan
    return ExposureReport(
        nav=nav,
        long=long,
        short=short,
        gross=gross,
        net=net,
        gross_pct=gross * inv,
        net_pct=net * inv,
        leverage=gross * inv,
        weights={s: v * inv for s, v in values.items()},
        sector_weights={s: v * inv for s, v in by_sector.items()},
    )


@dataclass(frozen=True, slots=True)
class RiskReport:
    """Everything the risk page's exposure and VaR panel shows for one portfolio."""

    exposure: ExposureReport
    var: VarReport | None
    drawdown: float
    max_concentration: float
    max_sector_concentration: float

    def to_dict(self) -> dict:
        """JSON-able (floats, dicts) for the API and the websocket push."""
        e = self.exposure
        out = {
            "nav": e.nav, "long": e.long, "short": e.short, "gross": e.gross, "net": e.net,
            "gross_pct": e.gross_pct, "net_pct": e.net_pct, "leverage": e.leverage,
            "weights": dict(e.weights), "sector_weights": dict(e.sector_weights),
            "drawdown": self.drawdown, "max_concentration": self.max_concentration,
            "max_sector_concentration": self.max_sector_concentration,
        }
        if self.var is not None:
            out.update({k: getattr(self.var, k) for k in VarReport.__slots__})
        return out


def risk_report(
    snapshot: PortfolioSnapshot,
    returns: ReturnsMatrix | None = None,
    *,
    sectors: Mapping[str, str] | None = None,
) -> RiskReport:
    """Exposure, concentration, VaR/CVaR (when returns are given) and drawdown from peak."""
    exp = exposures(snapshot, sectors=sectors)
    var = None
    if returns is not None and returns.values.shape[0] >= 2:
        var = var_report(pnl_scenarios(returns, position_values(snapshot)))
    return RiskReport(
        exposure=exp,
        var=var,
        drawdown=drawdown_from_peak(snapshot.nav, snapshot.peak_nav),
        max_concentration=max((abs(w) for w in exp.weights.values()), default=0.0),
        max_sector_concentration=max(exp.sector_weights.values(), default=0.0),
    )
