"""What a scenario run is asked to do, validated field by field (``ConfigError.field`` names the bad one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from desk.interfaces import ConfigError, MarketState, OrderIntent, Side

from .calendar import FREQUENCIES

FILLS = ("close", "next_close")
FILL_LABELS = {
    "close": "market-on-close at the decision bar's close (a mild same-bar look-ahead)",
    "next_close": "the next session's close",
}
# Optimiser keys a run may pass through (everything else in ``params`` is the run's own).
RUN_KEYS = ("agents", "sizing", "history_rows", "aggregation", "algo", "algo_params", "constraints", "symbols")


def _decimal(name: str, value: Any, *, lo: Decimal | None = None, hi: Decimal | None = None, lo_open=False) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError(name, "must be a number")
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ConfigError(name, f"must be a number, got {value!r}") from None
    if not d.is_finite():
        raise ConfigError(name, "must be a finite number")
    if lo is not None and (d <= lo if lo_open else d < lo):
        raise ConfigError(name, f"must be {'greater than' if lo_open else 'at least'} {lo}")
    if hi is not None and d > hi:
        raise ConfigError(name, f"must be at most {hi}")
    return d


def _algo(params: dict[str, Any]) -> None:
    """``params.algo`` is a registered algo (stored under its registry name) and ``params.algo_params`` only its
    own tuning, planned once on a model session so a bad value is refused here, with its field, not mid-run.

    The window is always the whole execution session and orders are whole shares at market, so the common
    ``start``, ``end``, ``lot_size`` and ``limit_price`` are not a run's to set.
    """
    from market_app.intraday import SESSION_MINUTES
    from orders_app.algos import get_algo

    name, tuning = params.get("algo"), params.get("algo_params")
    if name is None and not tuning:
        return
    if name is not None and not isinstance(name, str):
        raise ConfigError("params.algo", f"must be the name of an algo, got {name!r}")
    try:
        algo = get_algo(name or "IMMEDIATE")
    except ConfigError as e:
        raise ConfigError("params.algo", e.reason) from None
    if name is not None:
        params["algo"] = algo.name
    tuning = {} if tuning is None else tuning
    if not isinstance(tuning, Mapping):
        raise ConfigError("params.algo_params", "must be an object")
    for key in tuning:
        if key not in algo.tuning:
            takes = f"takes {', '.join(algo.tuning)}" if algo.tuning else "takes no params"
            raise ConfigError(f"params.algo_params.{key}", f"{algo.name} {takes} in a run (orders are worked over "
                                                           "the whole session, in whole shares, at market)")
    # The simulated path has one price a minute: finer slicing buys nothing and costs a run its time.
    for key, bad, reason in (("interval_minutes", lambda x: x < 1, "must be at least 1 in a run (one price a minute)"),
                             ("slices", lambda x: x > SESSION_MINUTES, f"must be at most {SESSION_MINUTES} in a run "
                                                                       "(one price a minute)")):
        try:
            value = float(tuning[key])
        except (KeyError, TypeError, ValueError):
            continue  # absent, or not a number: the algo's own check names it
        if bad(value):
            raise ConfigError(f"params.algo_params.{key}", reason)
    open_, close = datetime(2022, 1, 3, 14, 30, tzinfo=timezone.utc), datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc)
    probe = MarketState(now=open_, session_open=open_, session_close=close, mark=Decimal(100), adv=1_000_000.0)
    try:
        algo.schedule(OrderIntent(0, "PROBE", Side.BUY, Decimal(1000)), probe, tuning)
    except ConfigError as e:
        raise ConfigError(f"params.algo_params.{e.field}", e.reason) from None
    except (ArithmeticError, TypeError, ValueError) as e:  # a value no check foresaw: still the run's to fix
        raise ConfigError("params.algo_params", f"{algo.name} cannot plan with these params ({e})") from None


def _date(name: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(name, f"must be a date as YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class ScenarioConfig:
    """A run: strategy and its optimiser params, period, calendar, capital and costs.

    ``params`` holds the optimiser's settings (``lookback_days``, ``risk_model``, ...)
    plus the run's own keys: ``agents`` (computed agent types' names, or
    ``{"type", "config", "weight"}`` dicts), ``sizing`` (a ``SizingConfig`` dict),
    ``history_rows``, ``constraints``, ``symbols``, ``algo``, ``algo_params``.
    """

    strategy: str
    start: date
    end: date
    rebalance: str = "monthly"
    capital: Decimal = Decimal("1000000")
    commission_bps: Decimal = Decimal(0)
    slippage_bps: Decimal = Decimal(0)
    fill: str = "close"
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "ScenarioConfig":
        """From untrusted values (CLI flags, API body); raises ``ConfigError`` naming the first bad field."""
        from portfolio_app.optimisation import STRATEGIES

        strategy = str(values.get("strategy") or "")
        if strategy not in STRATEGIES:
            raise ConfigError("strategy", f"must be one of {', '.join(STRATEGIES)}")
        if values.get("start") in (None, ""):
            raise ConfigError("start", "is required (YYYY-MM-DD)")
        if values.get("end") in (None, ""):
            raise ConfigError("end", "is required (YYYY-MM-DD)")
        start, end = _date("start", values["start"]), _date("end", values["end"])
        if end <= start:
            raise ConfigError("end", "must be after start")
        rebalance = str(values.get("rebalance") or "monthly")
        if rebalance not in FREQUENCIES:
            raise ConfigError("rebalance", f"must be one of {', '.join(FREQUENCIES)}")
        fill = str(values.get("fill") or "close")
        if fill not in FILLS:
            raise ConfigError("fill", f"must be one of {', '.join(FILLS)}")
        params = values.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError("params", "must be an object")
        params = dict(params)
        _algo(params)
        config = cls(
            strategy=strategy,
            start=start,
            end=end,
            rebalance=rebalance,
            capital=_decimal("capital", values.get("capital", "1000000"), lo=Decimal(0), lo_open=True,
                             hi=Decimal("1e15")),
            commission_bps=_decimal("commission_bps", values.get("commission_bps", 0), lo=Decimal(0), hi=Decimal(1000)),
            slippage_bps=_decimal("slippage_bps", values.get("slippage_bps", 0) or 0, lo=Decimal(0), hi=Decimal(1000)),
            fill=fill,
            params=params,
        )
        config.optimiser()  # the strategy's own params are checked by the optimiser itself
        return config

    # -- pieces the runner builds from the config

    def optimiser_config(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k not in RUN_KEYS}

    def optimiser(self):
        from portfolio_app.optimisation import PortfolioOptimiser

        try:
            return PortfolioOptimiser.from_config({"strategy": self.strategy, **self.optimiser_config()})
        except ConfigError as e:
            raise ConfigError(f"params.{e.field}" if e.field != "strategy" else "strategy", e.reason) from None

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.params.get("symbols") or ())

    @property
    def agents(self) -> Sequence[Any]:
        return tuple(self.params.get("agents") or ())

    @property
    def algo(self) -> str:
        return str(self.params.get("algo") or "IMMEDIATE")

    @property
    def algo_params(self) -> dict[str, Any]:
        return dict(self.params.get("algo_params") or {})

    @property
    def fill_label(self) -> str:
        return FILL_LABELS[self.fill]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "rebalance": self.rebalance, "capital": str(self.capital), "commission_bps": str(self.commission_bps),
            "slippage_bps": str(self.slippage_bps), "fill": self.fill, "params": dict(self.params),
        }
