"""Pre-trade risk checks (pure core): limits, the check engine, proposal checks, utilisation.

The Django layer builds ``PreTradeRiskEngine(limits)`` from the active
``RiskLimit`` rows (as ``Limit``), then calls ``check`` per order,
``check_proposal`` per rebalance proposal, and ``limit_utilisation`` for the
risk page.  Each limit kind is one class (``kinds.py``) whose ``measure()``
serves all three.  The portfolio's account (buying power, a long-only book's
sellable position; ``buying_power.py``) is checked with the limits when the
context carries it.
"""

from .book import Book, RiskContext
from .buying_power import AccountBook, AccountVerdict, account_check_many
from .desk import DeskFigures, DeskView, portfolio_after
from .engine import PreTradeRiskEngine, is_reducing
from .limits import (
    ALL_PORTFOLIOS,
    BLOCK,
    DESK_WIDE_KINDS,
    BUYING_POWER,
    DUPLICATE_WINDOW_S,
    MAX_CONCENTRATION,
    MAX_DAILY_LOSS,
    MAX_DRAWDOWN,
    MAX_GROSS_EXPOSURE,
    MAX_LEVERAGE,
    MAX_NET_EXPOSURE,
    MAX_ORDER_NOTIONAL,
    MAX_ORDER_QTY,
    MAX_ORDER_RATE,
    MAX_POSITION_NOTIONAL,
    MAX_SECTOR_CONCENTRATION,
    MAX_VAR_95,
    PRICE_COLLAR_PCT,
    RESTRICTED_INSTRUMENTS,
    SCOPE_AGENT,
    SELLABLE_POSITION,
    SCOPE_DESK,
    SCOPE_INSTRUMENT,
    SCOPE_PORTFOLIO,
    SCOPES,
    TRADING_STATE,
    WARN,
    Limit,
    desk_key,
    is_loosening,
)
from .kinds import (
    ACCOUNT_KINDS,
    KIND_CLASSES,
    KINDS,
    DuplicateWindow,
    KindInfo,
    LimitKind,
    MaxConcentration,
    MaxDailyLoss,
    MaxDrawdown,
    MaxGrossExposure,
    MaxLeverage,
    MaxNetExposure,
    MaxOrderNotional,
    MaxOrderQty,
    MaxOrderRate,
    MaxPositionNotional,
    MaxSectorConcentration,
    MaxVar95,
    PriceCollarPct,
    RestrictedInstruments,
    compile_limit,
    validate_limit,
)
from .proposal import ProposalVerdict, intents_from_trades
from .utilisation import limit_utilisation

__all__ = [
    "BLOCK", "WARN", "KINDS", "KindInfo", "Limit", "RiskContext", "PreTradeRiskEngine", "ProposalVerdict",
    "SCOPES", "SCOPE_DESK", "SCOPE_PORTFOLIO", "SCOPE_INSTRUMENT", "SCOPE_AGENT", "TRADING_STATE",
    "DUPLICATE_WINDOW_S", "MAX_CONCENTRATION", "MAX_DAILY_LOSS", "MAX_DRAWDOWN", "MAX_GROSS_EXPOSURE",
    "MAX_LEVERAGE", "MAX_NET_EXPOSURE", "MAX_ORDER_NOTIONAL", "MAX_ORDER_QTY", "MAX_ORDER_RATE",
    "MAX_POSITION_NOTIONAL", "MAX_SECTOR_CONCENTRATION", "MAX_VAR_95", "PRICE_COLLAR_PCT",
    "RESTRICTED_INSTRUMENTS", "intents_from_trades", "is_loosening", "is_reducing", "limit_utilisation",
    "validate_limit", "KIND_CLASSES", "LimitKind", "compile_limit", "DuplicateWindow", "MaxConcentration",
    "MaxDailyLoss", "MaxDrawdown", "MaxGrossExposure", "MaxLeverage", "MaxNetExposure", "MaxOrderNotional",
    "MaxOrderQty", "MaxOrderRate", "MaxPositionNotional", "MaxSectorConcentration", "MaxVar95", "PriceCollarPct",
    "RestrictedInstruments", "ALL_PORTFOLIOS", "Book", "DESK_WIDE_KINDS", "DeskFigures", "DeskView", "desk_key",
    "portfolio_after", "ACCOUNT_KINDS", "AccountBook", "AccountVerdict", "BUYING_POWER", "SELLABLE_POSITION",
    "account_check_many",
]
