"""Limits as plain data: kind names, scopes, and which changes loosen a limit.

Every kind is a maximum: a value *at* the threshold passes, anything above it
breaches ("one unit under passes, one over is denied").  The one exception in
direction is ``duplicate_window_s``, whose threshold is a window in seconds: an
identical order sent *less than* that long ago breaches, so a longer window is
stricter.  ``is_loosening`` encodes that for the four-eyes rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# Kinds (the RiskLimit.kind choices; each one's class, label and unit in ``kinds.py``)
MAX_ORDER_QTY = "max_order_qty"
MAX_ORDER_NOTIONAL = "max_order_notional"
PRICE_COLLAR_PCT = "price_collar_pct"
DUPLICATE_WINDOW_S = "duplicate_window_s"
MAX_POSITION_NOTIONAL = "max_position_notional"
MAX_GROSS_EXPOSURE = "max_gross_exposure"
MAX_NET_EXPOSURE = "max_net_exposure"
MAX_LEVERAGE = "max_leverage"
MAX_CONCENTRATION = "max_concentration"
MAX_SECTOR_CONCENTRATION = "max_sector_concentration"
MAX_DAILY_LOSS = "max_daily_loss"
MAX_DRAWDOWN = "max_drawdown"
MAX_ORDER_RATE = "max_order_rate"
MAX_VAR_95 = "max_var_95"
RESTRICTED_INSTRUMENTS = "restricted_instruments"
TRADING_STATE = "trading_state"  # not a limit: the kind of a kill-switch breach
# Not limits either: the portfolio's account (portfolio_app/account.py), checked for every order
BUYING_POWER = "buying_power"
SELLABLE_POSITION = "sellable_position"

# Scopes
SCOPE_DESK = "desk"
SCOPE_PORTFOLIO = "portfolio"
SCOPE_INSTRUMENT = "instrument"
SCOPE_AGENT = "agent"
SCOPES = (SCOPE_DESK, SCOPE_PORTFOLIO, SCOPE_INSTRUMENT, SCOPE_AGENT)

# Desk-scope limits of these kinds are measured desk-wide: summed over the portfolios the limit concerns
# (``checks/desk.py``).  A desk-scope limit of any other kind applies to each portfolio on its own.
DESK_WIDE_KINDS = frozenset({MAX_GROSS_EXPOSURE, MAX_NET_EXPOSURE, MAX_DAILY_LOSS, MAX_ORDER_RATE})
ALL_PORTFOLIOS = "*"  # the desk key of a desk limit that names no portfolios

BLOCK = "block"
WARN = "warn"


@dataclass(frozen=True, slots=True)
class Limit:
    """One risk limit as the engine reads it (the ``RiskLimit`` row without the ORM).

    ``threshold`` units by kind: see ``kinds.KINDS[kind].unit``; fractions are of NAV
    (0.25 = 25%), ``price_collar_pct`` is in percent (5 = 5%).  Gross exposure
    is a USD notional (sum of |position value|); its ratio to NAV is the
    leverage limit, so the two kinds do not measure the same thing twice.  ``params``:
    ``window_s`` for ``max_order_rate`` (default 1), ``symbols`` for
    ``restricted_instruments``, ``method`` ("historical" or "parametric") for
    ``max_var_95``; ``portfolios`` (a list of portfolio ids) for a desk-scope limit that concerns only
    those portfolios (default: every portfolio).
    """

    id: int | None
    name: str
    kind: str
    threshold: float | Decimal
    scope: str = SCOPE_DESK
    scope_key: str | int | None = None
    action: str = BLOCK
    enabled: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The key of this limit in ``RiskVerdict.utilisation`` and ``limit_utilisation``."""
        return str(self.id) if self.id is not None else self.name


def desk_key(portfolios) -> str:
    """The desk book a desk limit is measured on: "*" (every portfolio) or its portfolio ids, sorted ("3,12");
    a long list by its digest, so that the key fits its column."""
    if portfolios is None:
        return ALL_PORTFOLIOS
    key = ",".join(str(p) for p in sorted({int(p) for p in portfolios}))
    return key if len(key) <= 128 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def is_loosening(old: Limit, new: Limit | None) -> bool:
    """True when going from ``old`` to ``new`` lets more orders through (four eyes needed).

    Deleting or disabling loosens; so does block -> warn, a higher threshold (a
    *shorter* duplicate window), a restricted list that lost a symbol, a change of
    scope or kind (treated as delete + create), and any other change of parameters
    (a VaR method, a rate window): whatever is not provably tighter.
    """
    if new is None or (old.enabled and not new.enabled):
        return True
    if not old.enabled:
        return False  # enabling a disabled limit, whatever else changes, tightens
    if (old.kind, old.scope, str(old.scope_key)) != (new.kind, new.scope, str(new.scope_key)):
        return True
    if old.action == BLOCK and new.action == WARN:
        return True
    if old.kind == RESTRICTED_INSTRUMENTS:
        others_same = {k: v for k, v in old.params.items() if k != "symbols"} == {k: v for k, v in new.params.items() if k != "symbols"}
        return not (others_same and set(old.params.get("symbols", ())) <= set(new.params.get("symbols", ())))
    if (old.params or {}) != (new.params or {}):
        # A method, window or other parameter switch is not provably tighter (historical -> parametric VaR
        # may read lower on the same book): a second officer must see it.
        return True
    if old.kind == DUPLICATE_WINDOW_S:
        return float(new.threshold) < float(old.threshold)
    return float(new.threshold) > float(old.threshold)


# ---------------------------------------------------------------------------
# How numbers read in a reason


def fmt_usd(x: float) -> str:
    return f"USD {x:,.0f}" if abs(x - round(x)) < 0.005 or abs(x) >= 1e5 else f"USD {x:,.2f}"


def fmt_qty(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:,.6f}".rstrip("0").rstrip(".")


def fmt_pct(fraction: float) -> str:
    """A fraction as a percentage with up to two decimals: 0.15 -> '15%', 0.1234 -> '12.34%'."""
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def fmt_num(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".")

