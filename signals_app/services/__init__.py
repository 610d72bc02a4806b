"""The signals app's writes: ``signals`` (batches, computed records) and ``agents`` (create, update, run)."""

from signals_app.services.agents import (
    AgentForbidden,
    AgentInvalid,
    AgentRunResult,
    agent_create,
    agent_run,
    agent_run_due,
    agent_update,
    agent_config_of,
    agent_validate,
    agent_version_restore,
    demo_agents,
    schedule_due,
)
from signals_app.services.signals import (
    SignalBatchForbidden,
    SignalBatchInvalid,
    SignalBatchResult,
    signal_batch_create,
    signal_records_store,
)

__all__ = [
    "AgentForbidden", "AgentInvalid", "AgentRunResult", "SignalBatchForbidden", "SignalBatchInvalid", "SignalBatchResult",
    "agent_create", "agent_run", "agent_run_due", "agent_update", "agent_validate", "agent_config_of", "agent_version_restore", "demo_agents", "schedule_due",
    "signal_batch_create", "signal_records_store",
]
