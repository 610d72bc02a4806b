"""The live implementations of the orchestrator's ports, chosen by settings.

Backtests build array-backed ports (``execution_app.scenarios.ports``); live
trading builds these, over the database. Both feed the same
``TradeExecutionOrchestrator``.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from signals_app.aggregation import get_aggregator
from desk.interfaces import Aggregator, SignalRecord, SignalSource


class DbSignalSource(SignalSource):
    """Stored signals of enabled agents that may be live at ``as_of`` (never later ones)."""

    def __init__(self, agent_ids: list[int] | None = None, *, exclude_shadow: bool = True):
        self.agent_ids = agent_ids
        self.exclude_shadow = exclude_shadow

    def signals(self, as_of: datetime) -> list[SignalRecord]:
        from signals_app.selectors import _records, live_signal_columns

        return _records(live_signal_columns(as_of, agent_ids=self.agent_ids, exclude_shadow=self.exclude_shadow))


def desk_aggregator() -> Aggregator:
    cfg = settings.DESK_AGGREGATION
    return get_aggregator(cfg["method"], half_life_days=cfg.get("half_life_days"))


class NoSignals(SignalSource):
    """For strategies that take no views: the signal stage yields nothing (and reads nothing)."""

    def signals(self, as_of: datetime) -> list[SignalRecord]:
        return []


class DeskWhatIfRiskEngine:
    """The risk stage of a proposal: the what-if of the whole proposal through the risk app's
    limits (``pre_trade_check_proposal``), without wall-clock limits (rate, duplicates), which
    belong to the moment orders are sent and are checked again at approval.

    ``last`` keeps the whole-proposal verdict (post-trade exposure, VaR) for the proposal page.
    """

    def __init__(self, portfolio_id: int):
        self.portfolio_id = portfolio_id
        self.last = None

    def check_many(self, intents, snapshot):
        from risk_app.services import pre_trade_check_proposal

        if not intents:
            return []
        self.last = pre_trade_check_proposal(portfolio_id=self.portfolio_id, intents=list(intents), wall_clock=False)
        return list(self.last.verdicts)

    def check(self, intent, snapshot):
        return self.check_many([intent], snapshot)[0]


class NotInProposals:
    """A port a proposal never reaches (execution happens after approval, through the orders app)."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attr):
        raise RuntimeError(f"the {self.name} stage does not run when computing a proposal")
