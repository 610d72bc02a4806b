"""The built-in agent types: ``external``, ``momentum``, ``mean_reversion``, ``trend``.

Each computed type scores only from the last rows it needs of a frame already
cut at ``as_of`` (see ``AgentType.generate``), and skips a symbol whose window
has a missing or non-positive price rather than guess.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from desk.interfaces import ConfigError

from signals_app.agents.base import AgentType, ComputedConfig, ConfigSchema, check_choice, check_number, check_positive_int


def _tail(prices: pd.DataFrame, rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The last ``rows`` closes as a float matrix, and which columns are fully usable; None if too short."""
    if len(prices) < rows:
        return None
    window = prices.iloc[-rows:].to_numpy(dtype=np.float64, na_value=np.nan)
    usable = np.isfinite(window).all(axis=0) & (window > 0).all(axis=0)
    return window, usable


@dataclasses.dataclass(frozen=True)
class ExternalConfig(ConfigSchema):
    """An external agent's signals come through the API; it only carries a label for people."""

    vendor: str = ""

    def validate(self) -> bool:
        if not isinstance(self.vendor, str):
            raise ConfigError("vendor", f"must be text, got {self.vendor!r}")
        return True


class ExternalAgent(AgentType):
    name = "external"
    config_class = ExternalConfig
    computed = False
    description = "Signals submitted by an API client (a quant model or a vendor)."


@dataclasses.dataclass(frozen=True)
class MomentumConfig(ComputedConfig):
    lookback: int = 252
    skip: int = 21
    scoring: str = "rank"
    scale: float = 0.25
    horizon_days: float = 21.0

    def validate(self) -> bool:
        super().validate()
        check_positive_int("lookback", self.lookback)
        check_positive_int("skip", self.skip)
        if self.skip >= self.lookback:
            raise ConfigError("skip", f"must be less than lookback ({self.lookback}), got {self.skip}")
        check_choice("scoring", self.scoring, ("rank", "tanh"))
        check_number("scale", self.scale, lo=0.0, lo_open=True)
        return True


class MomentumAgent(AgentType):
    """12-1 month momentum: ``r = P[t - skip] / P[t - lookback] - 1`` (t = the as_of row).

    Scoring ``rank`` (default): the cross-sectional rank of r among the symbols
    scored that day, spread evenly over [-1, 1] (worst -1, best +1, ties
    averaged, a lone symbol 0) -- robust to the level of the market.
    Scoring ``tanh``: ``tanh(r / scale)``, absolute (a 25 % return with
    ``scale=0.25`` scores 0.76).
    """

    name = "momentum"
    config_class = MomentumConfig
    computed = True
    description = "12-1 month return (price skip days ago over price lookback days ago)."

    def compute_scores(self, prices: pd.DataFrame, config: MomentumConfig) -> dict[str, float]:
        tail = _tail(prices, config.lookback + 1)
        if tail is None:
            return {}
        window, _ = tail
        recent, old = window[-1 - config.skip], window[0]
        ok = np.isfinite(recent) & np.isfinite(old) & (recent > 0) & (old > 0)
        if not ok.any():
            return {}
        ret = pd.Series(recent[ok] / old[ok] - 1.0, index=prices.columns[ok])
        if config.scoring == "tanh":
            scores = np.tanh(ret / config.scale)
        elif len(ret) == 1:
            scores = ret * 0.0
        else:
            scores = 2.0 * (ret.rank(method="average") - 1.0) / (len(ret) - 1) - 1.0
        return {str(k): float(v) for k, v in scores.items()}


@dataclasses.dataclass(frozen=True)
class MeanReversionConfig(ComputedConfig):
    window: int = 20
    z_scale: float = 2.0
    horizon_days: float = 5.0

    def validate(self) -> bool:
        super().validate()
        check_positive_int("window", self.window)
        if self.window < 2:
            raise ConfigError("window", f"must be at least 2 to have a standard deviation, got {self.window}")
        check_number("z_scale", self.z_scale, lo=0.0, lo_open=True)
        return True


class MeanReversionAgent(AgentType):
    """``z = (P_t - MA_N) / SD_N`` over the last N closes (sample SD); ``score = -tanh(z / z_scale)``.

    Above its average the price is expected to fall back, hence the minus sign.
    A flat window (SD 0) gives no signal.
    """

    name = "mean_reversion"
    config_class = MeanReversionConfig
    computed = True
    description = "Z-score of the price against its N-day moving average, faded."

    def compute_scores(self, prices: pd.DataFrame, config: MeanReversionConfig) -> dict[str, float]:
        tail = _tail(prices, config.window)
        if tail is None:
            return {}
        window, usable = tail
        w = window[:, usable]
        sd = w.std(axis=0, ddof=1)
        ok = sd > 0
        z = (w[-1, ok] - w.mean(axis=0)[ok]) / sd[ok]
        names = prices.columns[usable][ok]
        return {str(k): float(v) for k, v in zip(names, -np.tanh(z / config.z_scale))}


@dataclasses.dataclass(frozen=True)
class TrendConfig(ComputedConfig):
    fast: int = 20
    slow: int = 50
    scale: float = 0.05
    horizon_days: float = 10.0

    def validate(self) -> bool:
        super().validate()
        check_positive_int("fast", self.fast)
        check_positive_int("slow", self.slow)
        if self.fast >= self.slow:
            raise ConfigError("fast", f"must be less than slow ({self.slow}), got {self.fast}")
        check_number("scale", self.scale, lo=0.0, lo_open=True)
        return True


class TrendAgent(AgentType):
    """Moving-average crossover: ``score = tanh((MA_fast / MA_slow - 1) / scale)``.

    The sign is the crossover state (fast above slow: up-trend); the size grows
    with the gap, a 5 % gap scoring 0.76 with the default ``scale=0.05``.
    """

    name = "trend"
    config_class = TrendConfig
    computed = True
    description = "Fast/slow moving-average crossover."

    def compute_scores(self, prices: pd.DataFrame, config: TrendConfig) -> dict[str, float]:
        tail = _tail(prices, config.slow)
        if tail is None:
            return {}
        window, usable = tail
        w = window[:, usable]
        gap = w[-config.fast :].mean(axis=0) / w.mean(axis=0) - 1.0
        names = prices.columns[usable]
        return {str(k): float(v) for k, v in zip(names, np.tanh(gap / config.scale))}


BUILTIN_TYPES: tuple[type[AgentType], ...] = (ExternalAgent, MomentumAgent, MeanReversionAgent, TrendAgent)
