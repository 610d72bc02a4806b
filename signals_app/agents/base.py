"""The agent-type plugin contract: a config schema, and for computed types a ``generate``.

A type is a class, stateless: the agent's own settings live in its config, so
one type serves every agent of that type. ``generate`` is pure (prices in,
signals out) and point-in-time: it sees only the rows dated on or before
``as_of``, whatever frame it is handed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pandas as pd

from desk.interfaces import AgentConfig, ConfigError, SignalRecord

NEW_YORK = ZoneInfo("America/New_York")
MARKET_CLOSE = time(16, 0)


# ---------------------------------------------------------------------------
# Config schemas: frozen dataclasses whose validate() names the bad field


@dataclasses.dataclass(frozen=True)
class ConfigSchema(AgentConfig):
    """Base for agent configs; ``from_dict`` rejects unknown keys, then ``validate`` checks values."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "ConfigSchema":
        data = dict(data or {})
        if not all(isinstance(k, str) for k in data):
            raise ConfigError("config", "keys must be strings")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in sorted(data):
            if key not in known:
                allowed = ", ".join(sorted(known)) or "none"
                raise ConfigError(key, f"unknown setting (allowed: {allowed})")
        config = cls(**data)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        """The config with defaults filled in, JSON-able, for storing on the agent."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def validate(self) -> bool:
        return True


def check_positive_int(field: str, value: Any) -> None:
    # bool is an int subclass; True as a window length is a typo, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, f"must be a positive integer, got {value!r}")
    if value < 1:
        raise ConfigError(field, f"must be a positive integer, got {value}")


def check_number(field: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(field, f"must be a finite number, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(field, f"must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(field, f"must be <= {hi}, got {value}")


def check_choice(field: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(field, f"must be one of {', '.join(choices)}, got {value!r}")


def check_symbols(field: str, value: Any) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(field, f"must be a list of symbols, got {value!r}")
    for k, sym in enumerate(value):
        if not isinstance(sym, str) or not sym.strip():
            raise ConfigError(f"{field}[{k}]", f"must be a non-empty symbol, got {sym!r}")


@dataclasses.dataclass(frozen=True)
class ComputedConfig(ConfigSchema):
    """Settings every computed agent has: what its signals claim and which symbols it covers.

    ``universe`` empty means every column of the price frame.
    """

    confidence: float = 0.5
    horizon_days: float = 5.0
    universe: tuple[str, ...] | list[str] = ()

    def validate(self) -> bool:
        check_number("confidence", self.confidence, lo=0.0, hi=1.0)
        check_number("horizon_days", self.horizon_days, lo=0.0, lo_open=True)
        check_symbols("universe", self.universe)
        return True


# ---------------------------------------------------------------------------
# The plugin base class


class AgentType:
    """A kind of agent. Subclass, set ``name`` and ``config_class``; computed types set
    ``computed = True`` and implement ``compute_scores``.

    ``generate`` does the shared parts: validates the config, slices the prices to
    ``as_of`` (point-in-time), restricts to the universe, and wraps the scores as
    ``SignalRecord``s stamped at the session close of ``as_of`` with a
    deterministic ``client_signal_id``, so a re-run of the same day is a no-op
    for the idempotent signal store.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ConfigSchema]] = ConfigSchema
    computed: ClassVar[bool] = False
    description: ClassVar[str] = ""

    @classmethod
    def validate_config(cls, config: Mapping[str, Any] | AgentConfig | None) -> AgentConfig:
        if isinstance(config, AgentConfig):
            config.validate()
            return config
        return cls.config_class.from_dict(config)

    def generate(
        self,
        prices: pd.DataFrame,
        as_of: date | datetime,
        config: Mapping[str, Any] | AgentConfig | None = None,
        *,
        agent: str = "",
        agent_weight: float = 1.0,
    ) -> list[SignalRecord]:
        if not self.computed:
            raise NotImplementedError(f"agent type {self.name!r} is not computed; its signals come through the API")
        cfg = self.validate_config(config)
        known = prices_as_of(prices, as_of)
        universe = list(getattr(cfg, "universe", ()) or ())
        if universe:
            known = known.reindex(columns=universe)
        scores = self.compute_scores(known, cfg)
        stamp = session_close_utc(as_of)
        day = stamp.astimezone(NEW_YORK).date().isoformat()
        confidence = float(getattr(cfg, "confidence", 1.0))
        horizon = float(getattr(cfg, "horizon_days", 1.0))
        return [
            SignalRecord(
                agent=agent,
                symbol=str(symbol),
                score=float(min(max(score, -1.0), 1.0)),
                confidence=confidence,
                generated_at=stamp,
                horizon_days=horizon,
                agent_weight=agent_weight,
                client_signal_id=f"{self.name}:{symbol}:{day}",
            )
            for symbol, score in scores.items()
            if math.isfinite(score)
        ]

    def compute_scores(self, prices: pd.DataFrame, config: Any) -> Mapping[str, float]:
        """Score per symbol in [-1, 1] from prices already cut at ``as_of``; skip symbols it cannot score."""
        raise NotImplementedError


# ---------------------------------------------------------------------------
# Point-in-time helpers


def prices_as_of(prices: pd.DataFrame, as_of: date | datetime) -> pd.DataFrame:
    """The rows of a dates x symbols close frame whose close is known at ``as_of``, sorted.

    A ``date`` means "after that session's close", so its own row counts. An aware
    datetime before 16:00 New York does not yet know that day's close, so the
    row of its own date is left out.
    """
    cutoff = pd.Timestamp(_last_known_session(as_of)) + pd.Timedelta(days=1)
    index = pd.DatetimeIndex(prices.index)
    if index.tz is not None:
        # A tz-aware daily index marks each session by its date in the exchange's zone.
        index = index.tz_convert(NEW_YORK).tz_localize(None)
    known = prices.loc[index < cutoff]
    if not known.index.is_monotonic_increasing:
        known = known.sort_index()
    return known


def _last_known_session(as_of: date | datetime) -> date:
    if not isinstance(as_of, datetime):
        return as_of
    if as_of.tzinfo is None:
        raise ValueError(f"as_of must be a date or an aware datetime, got naive {as_of!r}")
    local = as_of.astimezone(NEW_YORK)
    return local.date() if local.time() >= MARKET_CLOSE else local.date() - timedelta(days=1)


def session_close_utc(as_of: date | datetime) -> datetime:
    """When a signal computed for ``as_of`` is stamped: that session's 16:00 New York close, in UTC.

    An aware datetime is taken as the stamp itself (an intraday run).
    """
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError(f"as_of must be a date or an aware datetime, got naive {as_of!r}")
        return as_of.astimezone(timezone.utc)
    return datetime.combine(as_of, MARKET_CLOSE, tzinfo=NEW_YORK).astimezone(timezone.utc)
