"""Versioned strategy configurations: every change of a portfolio's ``strategy``,
``strategy_params`` or ``constraints`` is a new ``StrategyVersion`` (who, when, why, the diff);
any earlier version is restored in one action, which is itself a new version.

- ``strategy_update`` (admins): validate (the optimiser names the bad key), save, record.
- ``strategy_version_restore`` (admins): version N's configuration becomes the current one.
- ``strategy_version_apply``: the trusted part both call, and the gradual rollout
  (``ops_app.rollout``) when a risk officer's sign-off puts a candidate on a portfolio.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction

from desk import roles
from desk.errors import Forbidden, Invalid
from desk.interfaces import ConfigError
from desk.versions import config_diff
from portfolio_app.models import STRATEGY_VERSIONED, Portfolio, StrategyVersion
from portfolio_app.optimisation.constraints import Constraints
from portfolio_app.strategy import optimiser_for


class StrategyForbidden(Forbidden):
    """Only admins change a portfolio's strategy configuration."""


class StrategyInvalid(Invalid):
    """A strategy configuration that the optimiser refuses, or a version that does not exist."""


def strategy_config_of(portfolio: Portfolio) -> dict[str, Any]:
    return {f: copy.deepcopy(getattr(portfolio, f)) for f in STRATEGY_VERSIONED}


def strategy_validate(portfolio: Portfolio, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` completed from the portfolio's current one, or ``StrategyInvalid`` naming the field."""
    unknown = sorted(set(config) - set(STRATEGY_VERSIONED))
    if unknown:
        raise StrategyInvalid(f"{unknown[0]}: not part of a strategy configuration",
                              field_errors={unknown[0]: f"not part of a strategy configuration ({', '.join(STRATEGY_VERSIONED)})"})
    merged = {**strategy_config_of(portfolio), **config}
    if not isinstance(merged["strategy"], str) or not merged["strategy"].strip():
        raise StrategyInvalid("strategy: required", field_errors={"strategy": "must name a strategy"})
    for f in ("strategy_params", "constraints"):
        if not isinstance(merged[f], dict):
            raise StrategyInvalid(f"{f}: must be an object", field_errors={f: "must be an object"})
    trial = copy.copy(portfolio)
    for f, v in merged.items():
        setattr(trial, f, v)
    try:
        optimiser_for(trial)
    except ConfigError as exc:
        head = exc.field.split(".")[0]
        field = "strategy" if exc.field == "strategy" else (
            f"constraints.{exc.field}" if head in Constraints.__dataclass_fields__ else f"strategy_params.{exc.field}")
        raise StrategyInvalid(f"{field}: {exc.reason}", field_errors={field: exc.reason}) from exc
    except (TypeError, ValueError) as exc:  # a value of the wrong type that the optimiser could not read
        why = f"a value of the wrong type ({exc})"
        raise StrategyInvalid(f"strategy_params: {why}", field_errors={"strategy_params": why}) from exc
    return merged


def strategy_version_apply(*, portfolio_id: int, config: dict[str, Any], actor, reason: str,
                           restored_from: int | None = None, rollout_id: int | None = None) -> StrategyVersion | None:
    """Save ``config`` (validated) on the portfolio and record the new version; ``None`` if nothing changed.

    Locks the portfolio row. A portfolio changed before versions existed gets its earlier
    configuration as version 1 first.
    """
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().get(pk=portfolio_id)
        merged = strategy_validate(portfolio, config)
        before = strategy_config_of(portfolio)
        last = StrategyVersion.objects.filter(portfolio=portfolio).order_by("-number").first()
        if last is None:
            last = StrategyVersion.objects.create(portfolio=portfolio, number=1, config=before,
                                                  reason="configuration before versioning")
        if merged == before:
            return None
        for f, v in merged.items():
            setattr(portfolio, f, v)
        portfolio.save(update_fields=list(STRATEGY_VERSIONED))
        return StrategyVersion.objects.create(
            portfolio=portfolio, number=last.number + 1, config=merged, diff=config_diff(last.config, merged),
            reason=reason, actor=actor, restored_from=restored_from, rollout_id=rollout_id,
        )


def _require_admin(actor) -> None:
    if not roles.is_admin(actor):
        raise StrategyForbidden("Only admins change a portfolio's strategy configuration.")


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise StrategyInvalid("reason: required", field_errors={"reason": "Say why the configuration changes."})
    return text


def strategy_update(*, actor, portfolio_id: int, reason: str, **config: Any) -> StrategyVersion | None:
    """A new strategy configuration for the portfolio (admins; a reason is required)."""
    _require_admin(actor)
    return strategy_version_apply(portfolio_id=portfolio_id, config=config, actor=actor, reason=_reason(reason))


def strategy_version_restore(*, actor, portfolio_id: int, number: Any, reason: str = "") -> StrategyVersion | None:
    """Version ``number``'s configuration becomes the current one, in one action (admins)."""
    _require_admin(actor)
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise StrategyInvalid("number: not a version", field_errors={"number": f"must be a version number, got {number!r}"}) from None
    version = StrategyVersion.objects.filter(portfolio_id=portfolio_id, number=number).first()
    if version is None:
        raise StrategyInvalid("number: no such version", field_errors={"number": f"this portfolio has no version {number}"})
    text = f"restored version {number}" + (f": {reason.strip()}" if (reason or "").strip() else "")
    return strategy_version_apply(portfolio_id=portfolio_id, config=version.config, actor=actor, reason=text,
                                  restored_from=number)


def strategy_versions(portfolio_id: int):
    """A portfolio's strategy versions, newest first, with who made each."""
    return StrategyVersion.objects.filter(portfolio_id=portfolio_id).select_related("actor").order_by("-number")
