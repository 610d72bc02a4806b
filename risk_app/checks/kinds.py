"""One class per limit kind: what it reads, how it is measured, when it breaches.

A limit is built once into its kind's class (``compile_limit``).  Its
``measure(x)`` reads an *exposure* ``x`` and returns ``(value, worse)``:
``value`` is the figure compared with the threshold, ``worse`` the extra
condition a breach needs (the order makes the measure worse; ``None``: none).
Three callers hand it three exposures with the same attribute names:

- the pre-trade check (``engine.py``): one order, floats;
- the proposal check (``proposal.py``): a proposal's trades, numpy arrays;
- the utilisation display (``utilisation.py``): the book as it stands, floats.

So each formula - position notional is |position value| after the trade,
leverage is gross over NAV, the order rate counts the orders in the window -
is written once, here.  What an exposure cannot supply is declared by
``needs`` ("returns", "time", "sector") and ``priced``; each caller decides
what a missing input means to it (fail closed for checks, no bar for display).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from desk.interfaces import ConfigError

from . import limits as K
from .limits import SCOPES, Limit


@dataclass(frozen=True, slots=True)
class KindInfo:
    label: str
    unit: str  # how the threshold is read: shares, USD, pct, fraction, seconds, per_second, list
    wall_clock: bool = False  # needs wall time; skipped in simulated time (backtests)
    per_order: bool = False  # a property of one order, not of the portfolio after it


class LimitKind:
    """A limit compiled for checking: its threshold as a float and its params unpacked."""

    kind = ""
    label = ""
    unit = ""  # how the threshold is read: shares, USD, pct, fraction, seconds, per_second, list
    wall_clock = False  # needs wall time; skipped in simulated time (backtests)
    per_order = False  # a property of one order, not of the portfolio after it
    priced = False  # needs a price to value the order
    needs: str | None = None  # "returns", "time" or "sector": an input the exposure may lack

    __slots__ = (
        "limit", "thr", "action", "key", "name", "id", "symbols", "window_s", "method", "tol", "hi", "scope", "skey",
        "portfolios", "desk_wide", "desk_key",
    )

    def __init__(self, limit: Limit):
        self.limit = limit
        self.action = limit.action
        self.key = limit.key
        self.name = limit.name
        self.id = limit.id
        self.scope = limit.scope
        self.skey = None if limit.scope_key is None else str(limit.scope_key)
        named = (limit.params or {}).get("portfolios") if limit.scope == K.SCOPE_DESK else None
        # A desk limit naming portfolios concerns only them (as strings, like every scope key).
        self.portfolios: frozenset[str] | None = None if named is None else frozenset(str(p) for p in named)
        # Measured over the desk book ``desk_key`` when the caller supplies desk figures (``checks/desk.py``).
        self.desk_wide = limit.scope == K.SCOPE_DESK and self.kind in K.DESK_WIDE_KINDS
        self.desk_key = K.desk_key(named) if self.desk_wide else ""
        self.symbols: frozenset = frozenset()
        self.window_s = 0.0
        self.method = ""
        self.thr = self.threshold_of(limit)
        # Floats carry rounding noise: a value *at* the threshold must pass.
        self.tol = 1e-9 * max(1.0, abs(self.thr))
        self.hi = self.thr + self.tol

    @staticmethod
    def threshold_of(limit: Limit) -> float:
        return float(limit.threshold)

    def concerns(self, portfolio_id) -> bool:
        """A desk limit applies to every portfolio unless it names some."""
        return self.portfolios is None or str(portfolio_id) in self.portfolios

    @classmethod
    def info(cls) -> KindInfo:
        return KindInfo(cls.label, cls.unit, wall_clock=cls.wall_clock, per_order=cls.per_order)

    @property
    def measure_key(self) -> tuple:
        """Limits with equal keys measure the same figures (the proposal path measures each key once)."""
        return (self.kind, self.method, self.window_s)

    def measure(self, x):
        raise NotImplementedError

    def detail(self, x):
        """What a breach's sentence needs beyond the value: the last price of a collar, the window of a rate."""
        return 0.0

    def over(self, value: float) -> bool:
        return value > self.hi

    def breached(self, value: float, worse) -> bool:
        return value > self.hi and (worse is None or bool(worse))

    def breached_many(self, value, worse):
        bad = value > self.hi
        return bad if worse is None else bad & worse

    def util(self, value: float) -> float:
        if self.thr > 0:
            return value / self.thr
        return 0.0 if value <= 0 else float("inf")

    def util_many(self, value):
        return value / self.thr if self.thr > 0 else np.where(value > 0, np.inf, 0.0)


# -- per order


class MaxOrderQty(LimitKind):
    kind, label, unit, per_order = K.MAX_ORDER_QTY, "Max order quantity", "shares", True
    __slots__ = ()

    def measure(self, x):
        return x.order_qty, None


class MaxOrderNotional(LimitKind):
    kind, label, unit, per_order, priced = K.MAX_ORDER_NOTIONAL, "Max order notional", "USD", True, True
    __slots__ = ()

    def measure(self, x):
        return x.order_notional, None


class PriceCollarPct(LimitKind):
    """|order price / last - 1| in percent; an order naming no price, or with no last price, reads 0."""

    kind, label, unit, per_order = K.PRICE_COLLAR_PCT, "Price collar", "pct", True
    __slots__ = ()

    def measure(self, x):
        return x.collar_pct(), None

    def detail(self, x):
        return x.collar_last()


class DuplicateWindow(LimitKind):
    """Seconds since the same order (symbol, side, quantity) was sent; *less* than the window breaches."""

    kind, label, unit, wall_clock, per_order = K.DUPLICATE_WINDOW_S, "Duplicate-order window", "seconds", True, True
    needs = "time"
    __slots__ = ()

    def measure(self, x):
        return x.since_same_order(), None

    def breached(self, value, worse):
        return value < self.thr - self.tol

    def breached_many(self, value, worse):
        return value < self.thr - self.tol

    def util(self, value):
        return 1.0 if value < self.thr - self.tol else 0.0

    def util_many(self, value):
        return (value < self.thr - self.tol).astype(float)


class MaxOrderRate(LimitKind):
    """Orders sent in the last ``window_s`` seconds, this one included, per second."""

    kind, label, unit, wall_clock, per_order = K.MAX_ORDER_RATE, "Max order rate", "per_second", True, True
    needs = "time"
    __slots__ = ()

    def __init__(self, limit: Limit):
        super().__init__(limit)
        self.window_s = float(limit.params.get("window_s", 1.0))

    def measure(self, x):
        n = x.orders_in_window(self.window_s)
        return (None, None) if n is None else (n / self.window_s, None)

    def detail(self, x):
        return self.window_s


class RestrictedInstruments(LimitKind):
    """1 when the instrument is on the list (held, for the display), else 0."""

    kind, label, unit, per_order = K.RESTRICTED_INSTRUMENTS, "Restricted instruments", "list", True
    __slots__ = ()

    def __init__(self, limit: Limit):
        super().__init__(limit)
        self.symbols = frozenset(limit.params.get("symbols", ()))

    @staticmethod
    def threshold_of(limit: Limit) -> float:
        return 0.0  # a list has no threshold

    @property
    def measure_key(self) -> tuple:
        return (self.kind, self.symbols)

    def measure(self, x):
        return x.restricted(self.symbols), None

    def breached(self, value, worse):
        return value > 0

    def breached_many(self, value, worse):
        return value > 0

    def util(self, value):
        return value

    def util_many(self, value):
        return value


# -- post-trade exposure at the mark: breaches only when the order makes it worse


class MaxPositionNotional(LimitKind):
    kind, label, unit, priced = K.MAX_POSITION_NOTIONAL, "Max position notional", "USD", True
    __slots__ = ()

    def measure(self, x):
        return abs(x.position_value), x.position_grows


class MaxConcentration(LimitKind):
    """The instrument's weight: |position value| / NAV."""

    kind, label, unit, priced = K.MAX_CONCENTRATION, "Max concentration", "fraction", True
    __slots__ = ()

    def measure(self, x):
        return abs(x.position_value) * x.inv_nav, x.position_grows


class MaxGrossExposure(LimitKind):
    """A USD notional (sum of |position value|); its ratio to NAV is the leverage limit."""

    kind, label, unit, priced = K.MAX_GROSS_EXPOSURE, "Max gross exposure", "USD", True
    __slots__ = ()

    def measure(self, x):
        return x.gross_after, x.position_grows


class MaxLeverage(LimitKind):
    kind, label, unit, priced = K.MAX_LEVERAGE, "Max leverage", "fraction", True
    __slots__ = ()

    def measure(self, x):
        return x.gross_after * x.inv_nav, x.position_grows


class MaxNetExposure(LimitKind):
    kind, label, unit, priced = K.MAX_NET_EXPOSURE, "Max net exposure", "fraction", True
    __slots__ = ()

    def measure(self, x):
        return abs(x.net_after) * x.inv_nav, x.net_grows


class MaxSectorConcentration(LimitKind):
    """The sector's gross value / NAV; instruments with no known sector are not counted."""

    kind, label, unit, priced = K.MAX_SECTOR_CONCENTRATION, "Max sector concentration", "fraction", True
    needs = "sector"
    __slots__ = ()

    def measure(self, x):
        return x.sector_gross_after() * x.inv_nav, x.position_grows


class MaxVar95(LimitKind):
    """1-day 95% VaR of the book after the order ("historical" or "parametric")."""

    kind, label, unit, priced = K.MAX_VAR_95, "Max 1-day 95% VaR", "USD", True
    needs = "returns"
    __slots__ = ()

    def __init__(self, limit: Limit):
        super().__init__(limit)
        self.method = limit.params.get("method", "historical")

    def measure(self, x):
        return x.var_after(self.method)


# -- states, not order effects: once over, only orders that shrink a position pass


class MaxDailyLoss(LimitKind):
    kind, label, unit = K.MAX_DAILY_LOSS, "Max daily loss", "USD"
    __slots__ = ()

    def measure(self, x):
        return x.loss, x.not_reducing


class MaxDrawdown(LimitKind):
    kind, label, unit = K.MAX_DRAWDOWN, "Max drawdown", "fraction"
    __slots__ = ()

    def measure(self, x):
        return x.drawdown, x.not_reducing


KIND_CLASSES: Mapping[str, type[LimitKind]] = {
    cls.kind: cls
    for cls in (
        MaxOrderQty, MaxOrderNotional, PriceCollarPct, DuplicateWindow, MaxPositionNotional, MaxGrossExposure,
        MaxNetExposure, MaxLeverage, MaxConcentration, MaxSectorConcentration, MaxDailyLoss, MaxDrawdown,
        MaxOrderRate, MaxVar95, RestrictedInstruments,
    )
}

KINDS: Mapping[str, KindInfo] = {k: cls.info() for k, cls in KIND_CLASSES.items()}


# -- the account: not limits a risk officer sets (so not in KINDS), but checks every order of a
# portfolio passes, with the account's own figure as the threshold (``buying_power.py`` measures them)


class AccountKind(LimitKind):
    """A built-in check of the portfolio's account: always on, blocking, its threshold read per order."""

    per_order = True
    __slots__ = ()

    def __init__(self):
        super().__init__(Limit(id=None, name=self.label, kind=self.kind, threshold=0))


class BuyingPower(AccountKind):
    """What open orders hold back after this one, against cash (cash account) or equity less the
    initial margin on the positions (margin account); only an order that adds to it can breach."""

    kind, label, unit = K.BUYING_POWER, "Buying power", "USD"
    __slots__ = ()


class SellablePosition(AccountKind):
    """A long-only portfolio's sell against what it holds less what its open sells already sell."""

    kind, label, unit = K.SELLABLE_POSITION, "Sellable position", "shares"
    __slots__ = ()


ACCOUNT_KINDS: Mapping[str, type[AccountKind]] = {cls.kind: cls for cls in (BuyingPower, SellablePosition)}


def compile_limit(limit: Limit) -> LimitKind:
    return KIND_CLASSES[limit.kind](limit)


def validate_limit(limit: Limit) -> bool:
    """True, or raise ``ConfigError`` naming the field a risk officer must fix."""
    if limit.kind not in KINDS:
        raise ConfigError("kind", f"unknown limit kind {limit.kind!r}")
    if limit.scope not in SCOPES:
        raise ConfigError("scope", f"unknown scope {limit.scope!r}; one of {', '.join(SCOPES)}")
    if limit.scope != K.SCOPE_DESK and limit.scope_key in (None, ""):
        raise ConfigError("scope_key", f"a {limit.scope} limit needs the {limit.scope} it applies to")
    if limit.action not in (K.BLOCK, K.WARN):
        raise ConfigError("action", "must be 'block' or 'warn'")
    if "portfolios" in (limit.params or {}):
        named = limit.params["portfolios"]
        if limit.scope != K.SCOPE_DESK:
            raise ConfigError("params.portfolios", "only a desk limit names the portfolios it concerns")
        if (not isinstance(named, (list, tuple)) or not named
                or not all(isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in named)):
            raise ConfigError("params.portfolios", "a non-empty list of portfolio ids")
    if limit.kind == K.RESTRICTED_INSTRUMENTS:
        symbols = limit.params.get("symbols")
        if not isinstance(symbols, (list, tuple, set, frozenset)):
            raise ConfigError("params.symbols", "a list of restricted symbols is required")
        return True
    try:
        threshold = float(limit.threshold)
    except (TypeError, ValueError):
        raise ConfigError("threshold", "must be a number") from None
    if not threshold >= 0 or threshold == float("inf"):
        raise ConfigError("threshold", "must be a finite number at or above zero")
    if limit.kind == K.MAX_ORDER_RATE and float(limit.params.get("window_s", 1.0)) <= 0:
        raise ConfigError("params.window_s", "must be positive")
    if limit.kind == K.MAX_VAR_95 and limit.params.get("method", "historical") not in ("historical", "parametric"):
        raise ConfigError("params.method", "must be 'historical' or 'parametric'")
    return True
