"""Where agent types are found: the built-ins, Python entry points, and settings.

Precedence, later wins: built-ins, then installed packages advertising the
``execdesk.agents`` entry-point group (``name = "pkg.module:Class"``), then the
dotted paths the caller passes (the Django layer passes
``settings.DESK_AGENT_TYPES``). A broken *plugin* is skipped and reported in
``AgentTypeRegistry.errors`` so one bad package cannot stop the desk; a broken
*settings* path raises, because settings are ours and should fail fast.

The registry is built per process and cached per tuple of paths; nothing is
shared between processes, and ``reload_agent_types()`` forgets the cache (a
freshly installed plugin, or a test).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from desk.interfaces import AgentConfig, ConfigError

from signals_app.agents.base import AgentType
from signals_app.agents.builtin import BUILTIN_TYPES

ENTRY_POINT_GROUP = "execdesk.agents"
logger = logging.getLogger(__name__)


def import_string(path: str) -> Any:
    """``pkg.module.Class`` or ``pkg.module:Class`` -> the object."""
    module, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not module or not attr:
        raise ImportError(f"{path!r} is not a dotted path to a class")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ImportError(f"{path!r}: {exc}") from exc
    return obj


def _check_type(obj: Any, origin: str) -> type[AgentType]:
    if not (isinstance(obj, type) and issubclass(obj, AgentType)):
        raise TypeError(f"{origin} is not an AgentType subclass: {obj!r}")
    if not obj.name:
        raise TypeError(f"{origin} has no name")
    if not (isinstance(obj.config_class, type) and issubclass(obj.config_class, AgentConfig)):
        raise TypeError(f"{origin}: config_class must implement AgentConfig")
    return obj


@dataclass
class AgentTypeRegistry:
    types: dict[str, type[AgentType]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def register(self, cls: type[AgentType], origin: str) -> None:
        if cls.name in self.types and self.types[cls.name] is not cls:
            logger.info("agent type %r from %s replaces the one from %s", cls.name, origin, self.origins[cls.name])
        self.types[cls.name] = cls
        self.origins[cls.name] = origin

    def get(self, name: str) -> type[AgentType]:
        try:
            return self.types[name]
        except KeyError:
            raise ConfigError("type", f"unknown agent type {name!r}; available: {', '.join(sorted(self.types))}") from None


def build_registry(paths: Iterable[str] = (), *, use_entry_points: bool = True) -> AgentTypeRegistry:
    registry = AgentTypeRegistry()
    for cls in BUILTIN_TYPES:
        registry.register(cls, f"builtin {cls.__module__}.{cls.__qualname__}")
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origin = f"entry point {ep.name} = {ep.value}"
            try:
                registry.register(_check_type(ep.load(), origin), origin)
            except Exception as exc:  # a third-party package may fail in any way; report, don't crash
                registry.errors[ep.name] = f"{origin}: {type(exc).__name__}: {exc}"
                logger.warning("skipping agent plugin: %s", registry.errors[ep.name])
    for path in paths:
        origin = f"settings {path}"
        registry.register(_check_type(import_string(path), origin), origin)
    return registry


@functools.lru_cache(maxsize=8)
def _cached(paths: tuple[str, ...]) -> AgentTypeRegistry:
    return build_registry(paths)


def agent_registry(paths: Iterable[str] = ()) -> AgentTypeRegistry:
    return _cached(tuple(paths))


def reload_agent_types() -> None:
    _cached.cache_clear()


def get_agent_type(name: str, paths: Iterable[str] = ()) -> type[AgentType]:
    """The type class of that name; ``ConfigError("type", ...)`` when none is registered."""
    return agent_registry(paths).get(name)


def available_agent_types(paths: Iterable[str] = ()) -> dict[str, type[AgentType]]:
    """Name -> type class, sorted by name."""
    types = agent_registry(paths).types
    return {name: types[name] for name in sorted(types)}


def validate_config(type_name: str, config: Mapping[str, Any] | None, paths: Iterable[str] = ()) -> AgentConfig:
    """The validated config object (``.to_dict()`` gives it with defaults, for storing).

    Raises ``ConfigError(field, reason)``: ``field="type"`` for an unknown type,
    otherwise the config key at fault (unknown key, wrong type, out of range,
    or the pair that conflicts, e.g. ``fast`` when fast >= slow).
    """
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError("config", f"must be an object of settings, got {type(config).__name__}")
    return get_agent_type(type_name, paths).validate_config(config)
