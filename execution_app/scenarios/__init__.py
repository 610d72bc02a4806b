"""Scenario runs: backtest, benchmark and paper runs of the one orchestrator, and their comparison.

Pure: closes in (pandas), results out; the Django layer (``execution_app.scenarios.services``)
loads prices from ``PriceBar`` and stores results in ``ScenarioRun`` and its children.
"""

from .calendar import FREQUENCIES, is_period_end, rebalance_rows, session_close
from .config import FILL_LABELS, FILLS, ScenarioConfig
from .markets import SessionBarMarket
from .ports import AgentSpec, BookGateway, PassThroughSizer, PointInTimeSignalSource, TradeRecord, bar_quotes
from .runner import BarMarket, ScenarioResult, default_limits, equity_cents, jsonable_metrics, run_backtest, run_scenario

__all__ = [
    "FILLS", "FILL_LABELS", "FREQUENCIES", "AgentSpec", "BarMarket", "BookGateway", "PassThroughSizer",
    "PointInTimeSignalSource", "ScenarioConfig", "ScenarioResult", "SessionBarMarket", "TradeRecord", "bar_quotes", "default_limits",
    "equity_cents", "is_period_end", "jsonable_metrics", "rebalance_rows", "run_backtest", "run_scenario",
    "session_close",
]
