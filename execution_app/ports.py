"""The live implementations of the orchestrator's ports, chosen by settings.

Backtests build array-backed ports (``execution_app.scenarios.ports``); live
trading builds these, over the database. Both feed the same
``TradeExecutionOrchestrator``.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from execution_app.aggregation import get_aggregator
from execution_app.interfaces import Aggregator, SignalRecord, SignalSource


class DbSignalSource(SignalSource):
    """Stored signals of enabled agents that may be live at ``as_of`` (never later ones)."""

    def __init__(self, agent_ids: list[int] | None = None):
        self.agent_ids = agent_ids

    def signals(self, as_of: datetime) -> list[SignalRecord]:
        from execution_app.signal_selectors import _records, live_signal_columns

        return _records(live_signal_columns(as_of, agent_ids=self.agent_ids))


def desk_aggregator() -> Aggregator:
    cfg = settings.DESK_AGGREGATION
    return get_aggregator(cfg["method"], half_life_days=cfg.get("half_life_days"))
