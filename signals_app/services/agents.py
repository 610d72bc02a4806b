"""Agents: create and update (admins only), and runs of computed agents.

Re-exported by ``signal_services``, the one entry point of the issue's writes.

- ``agent_create`` / ``agent_update``: the config is validated by the agent's
  type from the plugin registry; every bad field is named and nothing is saved.
- ``agent_run`` / ``agent_run_due``: computed agents on the market clock's date,
  from the closes known at that moment, stored idempotently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone as dj_timezone

from desk.tasks import enqueue_on_commit
from desk.errors import Forbidden, Invalid
from desk import roles
from signals_app.agents import get_agent_type, validate_config
from signals_app.agents.base import NEW_YORK
from desk.interfaces import ConfigError
from desk.versions import config_diff
from signals_app.models import AGENT_SCHEDULES, AGENT_VERSIONED, Agent, AgentVersion
from signals_app.services.signals import _market_now, signal_records_store

log = logging.getLogger(__name__)
MAX_WEIGHT = Decimal("1000")


class AgentInvalid(Invalid):
    """``errors``: field -> reason (config keys as ``config.<key>``); nothing was saved."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
        self.errors = errors


class AgentForbidden(Forbidden, PermissionError):
    pass


@dataclass
class AgentRunResult:
    agent_id: int
    status: str  # "ran" | "skipped"
    reason: str = ""
    as_of: datetime | None = None
    created: int = 0
    existing: int = 0
    symbols: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Create and update (admins only)


def _agent_types() -> list[str]:
    return list(settings.DESK_AGENT_TYPES)


def agent_validate(*, name: Any, type: Any, config: Any, weight: Any, schedule: Any, owner: Any,
                   exclude_id: int | None = None) -> dict[str, Any]:
    """The cleaned fields of an agent, or ``AgentInvalid`` naming every bad field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
        errors["name"] = "must be 1 to 64 characters"
    elif Agent.objects.filter(name=name.strip()).exclude(id=exclude_id).exists():
        errors["name"] = f"an agent named {name.strip()!r} already exists"
    else:
        clean["name"] = name.strip()
    try:
        clean["config"] = validate_config(str(type), config, _agent_types()).to_dict()
        clean["type"] = str(type)
    except ConfigError as exc:
        errors[exc.field if exc.field in ("type", "config") else f"config.{exc.field}"] = exc.reason
    try:
        w = Decimal(str(weight))
        if not w.is_finite() or w < 0 or w > MAX_WEIGHT:
            raise InvalidOperation
        if w != w.quantize(Decimal("0.0001")):
            errors["weight"] = "at most 4 decimal places"
        clean["weight"] = w
    except (InvalidOperation, ValueError, TypeError):
        errors["weight"] = f"must be a number from 0 to {MAX_WEIGHT}, got {weight!r}"
    if schedule not in AGENT_SCHEDULES:
        errors["schedule"] = f"must be one of {', '.join(AGENT_SCHEDULES)}, got {schedule!r}"
    else:
        clean["schedule"] = schedule
    if owner is not None and not roles.has_role(owner, roles.API_CLIENT, roles.ADMIN):
        errors["owner"] = f"{owner.username} is not an API client"
    clean["owner"] = owner
    if errors:
        raise AgentInvalid(errors)
    return clean


def _require_admin(actor) -> None:
    if not roles.is_admin(actor):
        raise AgentForbidden("only admins change agents")


@transaction.atomic
def agent_create(*, actor, name: str, type: str, config: dict | None = None, weight: Any = "1",
                 enabled: bool = True, owner=None, schedule: str = "daily") -> Agent:
    _require_admin(actor)
    clean = agent_validate(name=name, type=type, config=config, weight=weight, schedule=schedule, owner=owner)
    agent = Agent(**clean, enabled=bool(enabled))
    agent._history_user = actor
    agent._change_reason = "created"
    agent.save()
    _version_record(agent, actor=actor, reason="created")
    return agent


UPDATABLE = ("name", "type", "config", "weight", "enabled", "owner", "schedule")


def agent_config_of(agent: Agent) -> dict[str, Any]:
    """The versioned part of an agent, as JSON (the weight as a string: exact)."""
    return {f: (str(Decimal(getattr(agent, f)).quantize(Decimal("0.0001"))) if f == "weight" else getattr(agent, f))
            for f in AGENT_VERSIONED}


def _version_record(agent: Agent, *, actor, reason: str, before: dict | None = None,
                    restored_from: int | None = None) -> AgentVersion | None:
    """A new version if the versioned part changed (caller holds the agent's row lock). An agent
    changed before versions existed gets its earlier configuration as version 1 first."""
    last = AgentVersion.objects.filter(agent=agent).order_by("-number").first()
    if last is None and before is not None:
        last = AgentVersion.objects.create(agent=agent, number=1, config=before, reason="configuration before versioning")
    config = agent_config_of(agent)
    if last is not None and last.config == config:
        return None
    return AgentVersion.objects.create(
        agent=agent, number=(last.number + 1) if last else 1, config=config,
        diff=config_diff(last.config if last else None, config), reason=reason, actor=actor, restored_from=restored_from,
    )


@transaction.atomic
def agent_update(*, actor, agent_id: int, reason: str = "", _restored_from: int | None = None, **changes: Any) -> Agent:
    """Change some of an agent's fields (locks its row); the next run reads them. Nothing is saved on error.

    A change of the versioned part (``AGENT_VERSIONED``) records a new ``AgentVersion`` with ``reason``.
    """
    _require_admin(actor)
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise AgentInvalid({f: "cannot be changed" for f in unknown})
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    merged = {f: changes.get(f, getattr(agent, f)) for f in UPDATABLE}
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise AgentInvalid({"enabled": "must be true or false"})
    clean = agent_validate(**{k: merged[k] for k in ("name", "type", "config", "weight", "schedule", "owner")},
                           exclude_id=agent.id)
    clean["enabled"] = merged["enabled"]
    changed = [f for f in UPDATABLE if getattr(agent, f) != clean[f]]
    before = agent_config_of(agent)
    for f in changed:
        setattr(agent, f, clean[f])
    if changed:
        agent._history_user = actor
        agent._change_reason = (reason or "").strip()[:100] or None
        agent.save(update_fields=[*changed, "updated_at"])
        _version_record(agent, actor=actor, reason=(reason or "").strip(), before=before, restored_from=_restored_from)
    return agent


@transaction.atomic
def agent_version_restore(*, actor, agent_id: int, number: Any, reason: str = "") -> Agent:
    """Make version ``number``'s configuration the agent's current one: one action, itself a new version."""
    _require_admin(actor)
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise AgentInvalid({"number": f"must be a version number, got {number!r}"}) from None
    Agent.objects.select_for_update().get(pk=agent_id)
    version = AgentVersion.objects.filter(agent_id=agent_id, number=number).first()
    if version is None:
        raise AgentInvalid({"number": f"this agent has no version {number}"})
    text = f"restored version {number}" + (f": {reason.strip()}" if (reason or "").strip() else "")
    fields = dict(version.config)
    if "weight" in fields:
        fields["weight"] = Decimal(str(fields["weight"]))
    return agent_update(actor=actor, agent_id=agent_id, reason=text, _restored_from=number, **fields)


# ---------------------------------------------------------------------------
# Computed agents


def schedule_due(schedule: str, last_run: date | None, market_date: date) -> bool:
    """Whether an agent on ``schedule`` that last ran for ``last_run`` is due on ``market_date``."""
    if schedule == "manual":
        return False
    if last_run is None:
        return True
    if schedule == "weekly":
        return last_run.isocalendar()[:2] < market_date.isocalendar()[:2]
    return last_run < market_date


def agent_run(*, agent_id: int, as_of: datetime | None = None, force: bool = False) -> AgentRunResult:
    """Run a computed agent for ``as_of`` (default: the market clock's now) and store its signals.

    Reads the agent afresh, so a changed config, weight, schedule or enabled flag
    applies. Only closes dated on or before the market date are loaded, and
    ``generate`` drops that day's own close before 16:00 New York (point-in-time).
    ``force`` runs even when the schedule says not due (a manual run); a disabled
    agent never runs. The compute is outside any transaction; the store re-checks
    the schedule under the agent's row lock, so two runs of one day store once.
    """
    from signals_app.selectors import agent_price_frame

    agent = Agent.objects.get(pk=agent_id)
    as_of = as_of or _market_now()
    market_date = as_of.astimezone(NEW_YORK).date()
    if not agent.enabled:
        return AgentRunResult(agent_id, "skipped", "disabled", as_of)
    cls = get_agent_type(agent.type, _agent_types())
    if not cls.computed:
        return AgentRunResult(agent_id, "skipped", "not a computed agent", as_of)
    if not force and not schedule_due(agent.schedule, agent.last_run_market_date, market_date):
        return AgentRunResult(agent_id, "skipped", "not due", as_of)
    config = cls.validate_config(agent.config)
    prices = agent_price_frame(as_of=as_of, symbols=list(getattr(config, "universe", ()) or ()))
    records = cls().generate(prices, as_of, config, agent=agent.name, agent_weight=float(agent.weight))
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent_id)
        if not force and not schedule_due(locked.schedule, locked.last_run_market_date, market_date):
            return AgentRunResult(agent_id, "skipped", "ran meanwhile", as_of)
        created, existing = signal_records_store(agent=locked, records=records)
        # A queryset update: run stamps are not config changes, so they stay out of the history.
        Agent.objects.filter(pk=agent_id).update(last_run_at=dj_timezone.now(), last_run_market_date=market_date)
    log.info("agent %s ran for %s: %d new, %d already stored", agent.name, as_of.isoformat(), created, existing)
    return AgentRunResult(agent_id, "ran", "", as_of, created, existing, sorted({r.symbol for r in records}))


def agent_run_due() -> list[int]:
    """Enqueue a run of every enabled computed agent due on the market clock's date; returns their ids."""
    from market_app.clock import get_clock
    market_date = get_clock().market_date()
    due = []
    for a in Agent.objects.filter(enabled=True).exclude(schedule="manual").values("id", "type", "schedule", "last_run_market_date"):
        try:
            computed = get_agent_type(a["type"], _agent_types()).computed
        except ConfigError:
            log.warning("agent %s has type %r, which no installed plugin provides", a["id"], a["type"])
            continue
        if computed and schedule_due(a["schedule"], a["last_run_market_date"], market_date):
            due.append(a["id"])
    for agent_id in due:
        enqueue_on_commit("signals_app.tasks.agent_run", (agent_id,))
    return due


# ---------------------------------------------------------------------------
# Demo data


DEMO_AGENTS = [
    # name, type, config, weight, schedule, owned by the demo API client
    ("momentum", "momentum", {}, "1.0", "daily", False),
    ("mean_reversion", "mean_reversion", {}, "0.5", "daily", False),
    ("trend", "trend", {}, "1.0", "daily", False),
    ("vendor-feed", "external", {"vendor": "Demo signal vendor"}, "0.75", "manual", True),
]


def demo_agents(*, portfolio, users) -> None:
    """The demo's agents (a ``DESK_DEMO_HOOKS`` hook); idempotent, existing agents are left as they are."""
    from django.contrib.auth import get_user_model

    admin = users.get("admin") or get_user_model().objects.filter(is_superuser=True).first()
    bot = users.get("api")
    existing = set(Agent.objects.values_list("name", flat=True))
    for name, type_, config, weight, schedule, owned in DEMO_AGENTS:
        if name not in existing:
            agent_create(actor=admin, name=name, type=type_, config=config, weight=weight,
                         schedule=schedule, owner=bot if owned else None)
