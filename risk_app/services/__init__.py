"""Risk services (writes): pre-trade checks, limits with four eyes, the kill switch, alerts, monitoring.

What other apps call:

- ``pre_trade_check(portfolio_id=, intents=, wall_clock=True)`` -> one ``RiskVerdict`` per
  intent; the caller holds the portfolio row lock (``select_for_update``).  Stores a
  ``RiskCheck`` for each intent whose ``client_order_id`` names a stored order.
- ``pre_trade_check_proposal(portfolio_id=, intents=)`` -> ``ProposalVerdict`` (what-if, nothing stored).
- ``risk_check_record(verdict=, ...)`` -> store a check explicitly (e.g. with a proposal).
- ``risk_recompute_schedule(portfolio_id=)`` -> a prompt live-risk recompute after commit, debounced.
"""

from .alerts import alert_acknowledge, alert_raise, alert_resolve, alerts_sync
from .common import (
    RiskError,
    RiskInvalid,
    RiskNotFound,
    RiskPermissionDenied,
    RiskRoleRefused,
    may_manage_risk,
    verdict_dict,
)
from .limits import (
    LimitChangeResult,
    LimitChangeStale,
    demo_limits,
    limit_change_approve,
    limit_change_reject,
    limit_changes_expire,
    limit_create,
    limit_delete,
    limit_fields,
    limit_update,
    limit_validate,
    limits_version_bump,
)
from .monitor import risk_monitor_recompute, risk_monitor_recompute_all, risk_recompute_schedule
from .pretrade import engine_get, engine_reset, pre_trade_check, pre_trade_check_proposal, risk_check_record
from .state import (
    StateResult,
    trading_state_rearm_confirm,
    trading_state_rearm_reject,
    trading_state_rearm_request,
    trading_state_set,
)

__all__ = [
    "LimitChangeResult", "LimitChangeStale", "RiskError", "RiskInvalid", "RiskNotFound", "RiskPermissionDenied", "RiskRoleRefused", "StateResult",
    "alert_acknowledge", "alert_raise", "alert_resolve", "alerts_sync", "demo_limits", "engine_get", "engine_reset",
    "limit_change_approve", "limit_change_reject", "limit_changes_expire", "limit_create", "limit_delete", "limit_fields", "limit_update",
    "limit_validate", "limits_version_bump", "may_manage_risk", "pre_trade_check", "pre_trade_check_proposal",
    "risk_check_record", "risk_monitor_recompute", "risk_monitor_recompute_all", "risk_recompute_schedule",
    "trading_state_rearm_confirm", "trading_state_rearm_reject", "trading_state_rearm_request", "trading_state_set",
    "verdict_dict",
]
