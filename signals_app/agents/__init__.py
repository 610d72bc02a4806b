"""Agent types as plugins: the base class, the built-ins and the registry."""

from signals_app.agents.base import AgentType, ComputedConfig, ConfigSchema, prices_as_of, session_close_utc
from signals_app.agents.builtin import ExternalAgent, ExternalConfig, MeanReversionAgent, MeanReversionConfig, MomentumAgent, MomentumConfig, TrendAgent, TrendConfig
from signals_app.agents.registry import ENTRY_POINT_GROUP, AgentTypeRegistry, agent_registry, available_agent_types, build_registry, get_agent_type, import_string, reload_agent_types, validate_config

__all__ = [
    "AgentType", "ComputedConfig", "ConfigSchema", "prices_as_of", "session_close_utc",
    "ExternalAgent", "ExternalConfig", "MeanReversionAgent", "MeanReversionConfig",
    "MomentumAgent", "MomentumConfig", "TrendAgent", "TrendConfig",
    "ENTRY_POINT_GROUP", "AgentTypeRegistry", "agent_registry", "available_agent_types",
    "build_registry", "get_agent_type", "import_string", "reload_agent_types", "validate_config",
]
