"""The kill switch: ACTIVE, REDUCING, HALTED - desk-wide and per portfolio.

Going stricter (to REDUCING or HALTED) and REDUCING -> ACTIVE apply at once.
HALTED is latched: leaving it needs a re-arm request by one risk officer and a
confirmation by a *different* one.  Halting cancels the open orders of the
scope once it commits, on the control queue (a failure to cancel is logged, never undoes the
halt).  Every change is audited (``TradingStateChange``) and pushed
(``risk.state_changed``) to the desk and to the portfolio's group.  Checks
read the state row afresh each time, so a change holds on every worker as
soon as it commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from desk import foureyes, groups
from desk.events import event_publish
from desk.lifecycle import transition
from risk_app import states
from risk_app.models import TradingStateChange, TradingStateRearm, TradingStateRecord
from risk_app.snapshots import DESK_SCOPE

from .common import REARMS, RiskInvalid, four_eyes_decide, four_eyes_lock, require_reason, require_risk_manager

log = logging.getLogger(__name__)
HALTED, REDUCING, ACTIVE = states.HALTED, states.REDUCING, states.ACTIVE


@dataclass(frozen=True)
class StateResult:
    """``applied``: the state changed now; otherwise ``rearm`` waits for a second officer."""

    scope: str
    state: str
    applied: bool
    rearm: TradingStateRearm | None = None


def scope_portfolio_id(scope: str) -> int | None:
    """None for the desk; the id for "portfolio:<id>"; ``RiskInvalid`` for anything else."""
    if scope == DESK_SCOPE:
        return None
    prefix, _, rest = scope.partition(":")
    if prefix == "portfolio" and rest.isdigit():
        from portfolio_app.models import Portfolio

        if Portfolio.objects.filter(pk=int(rest)).exists():
            return int(rest)
    raise RiskInvalid({"scope": f"Unknown scope {scope!r}: \"desk\" or \"portfolio:<id>\"."})


def _record(scope: str) -> TradingStateRecord:
    pid = scope_portfolio_id(scope)
    TradingStateRecord.objects.get_or_create(scope=scope, defaults={"portfolio_id": pid})
    return TradingStateRecord.objects.select_for_update().get(scope=scope)


def _apply(rec: TradingStateRecord, event: str, *, actor, reason: str, confirmed_by=None) -> None:
    """The trading-state machine's one apply function: the table decides, the row and its audit are written."""
    previous = rec.state
    state = states.TRADING_STATE.next_status(previous, event)
    rec.state, rec.reason, rec.set_by = state, reason, actor
    with transition(rec.LIFECYCLE):
        rec.save(update_fields=["state", "reason", "set_by", "set_at"])
    TradingStateChange.objects.create(
        scope=rec.scope, from_state=previous, to_state=state, actor=actor, reason=reason, confirmed_by=confirmed_by,
    )
    targets = [groups.DESK] + ([groups.portfolio(rec.portfolio_id)] if rec.portfolio_id else [])
    event_publish(
        event_type="risk.state_changed",
        payload={
            "scope": rec.scope, "portfolio_id": rec.portfolio_id, "state": state, "previous": previous,
            "reason": reason, "set_by": actor.username if actor else None,
            "confirmed_by": confirmed_by.username if confirmed_by else None, "ts": timezone.now(),
        },
        groups=targets,
    )
    if state == HALTED:
        _cancel_open_orders(rec.portfolio_id, actor=actor, reason=f"Trading HALTED: {reason}")


def _cancel_open_orders(portfolio_id: int | None, *, actor, reason: str) -> None:
    """Cancel every open order of the scope (the whole desk when ``portfolio_id`` is None) on the control queue,
    once the halt commits: the gate refuses every new slice from that moment, and the cancels reach the venues
    through a worker of their own, never behind the order flow (``orders_app.dispatch.cancels_after_commit``)."""
    from orders_app import dispatch
    from orders_app.models import Order
    from orders_app.states import OPEN_STATUSES

    open_orders = Order.objects.filter(status__in=OPEN_STATUSES)
    if portfolio_id is not None:
        open_orders = open_orders.filter(portfolio_id=portfolio_id)
    portfolio_ids = set(open_orders.values_list("portfolio_id", flat=True).distinct())
    dispatch.cancels_after_commit(portfolio_ids, actor_id=actor.pk if actor is not None else None, reason=reason)


@transaction.atomic
def trading_state_set(*, scope: str, state: str, actor, reason: str) -> StateResult:
    """Set the kill switch of ``scope``; from HALTED this files a re-arm request instead.

    Locks the state row (``select_for_update``), so two officers acting at once apply in turn.
    """
    require_risk_manager(actor, "change the trading state")
    reason = require_reason(reason)
    if state not in (ACTIVE, REDUCING, HALTED):
        raise RiskInvalid({"state": f"Unknown state {state!r}: ACTIVE, REDUCING or HALTED."})
    rec = _record(scope)
    if rec.state == state:
        raise RiskInvalid({"state": f"Trading is already {state} for {scope}."})
    if rec.state == HALTED:
        return StateResult(scope, rec.state, False, trading_state_rearm_request(scope=scope, state=state, actor=actor, reason=reason))
    _apply(rec, states.EVENT_TO[state], actor=actor, reason=reason)
    return StateResult(scope, state, True)


@transaction.atomic
def trading_state_rearm_request(*, scope: str, state: str, actor, reason: str) -> TradingStateRearm:
    """Ask to leave HALTED for ``state``; a second risk officer confirms."""
    require_risk_manager(actor, "re-arm trading")
    reason = require_reason(reason)
    if state not in (ACTIVE, REDUCING):
        raise RiskInvalid({"state": "Re-arming goes to ACTIVE or REDUCING."})
    rec = _record(scope)
    if rec.state != HALTED:
        raise RiskInvalid({"state": f"Trading is not HALTED for {scope}."})
    pending = TradingStateRearm.objects.filter(scope=scope, status=TradingStateRearm.Status.PENDING).first()
    if pending is not None:
        raise RiskInvalid({"state": f"A re-arm request (#{pending.pk}, to {pending.to_state}) already waits for confirmation."})
    rearm = TradingStateRearm.objects.create(scope=scope, to_state=state, requested_by=actor, reason=reason)
    targets = [groups.DESK] + ([groups.portfolio(rec.portfolio_id)] if rec.portfolio_id else [])
    event_publish(
        event_type="risk.state_changed",
        payload={"scope": scope, "portfolio_id": rec.portfolio_id, "state": HALTED, "previous": HALTED,
                 "rearm_requested": {"id": rearm.pk, "to_state": state, "by": actor.username, "reason": reason}},
        groups=targets,
    )
    return rearm


@transaction.atomic
def trading_state_rearm_confirm(*, rearm_id: int, actor, reason: str = "") -> StateResult:
    """The second officer: HALTED -> the requested state, audited with both names."""
    rearm = four_eyes_lock(REARMS, TradingStateRearm, rearm_id, missing=f"No re-arm request {rearm_id}.",
                           actor=actor, what="confirm a re-arm", check=foureyes.APPROVE, reason=reason)
    rec = _record(rearm.scope)
    if rec.state != HALTED:
        four_eyes_decide(REARMS, rearm, foureyes.EXPIRE, actor=actor, what="confirm a re-arm")
        raise RiskInvalid({"state": f"Trading is no longer HALTED for {rearm.scope}."})
    text = four_eyes_decide(REARMS, rearm, foureyes.APPROVE, actor=actor, reason=reason, what="confirm a re-arm")
    why = rearm.reason + (f" (confirmed: {text})" if text else "")
    _apply(rec, states.REARM_TO[rearm.to_state], actor=rearm.requested_by, reason=why, confirmed_by=actor)
    return StateResult(rearm.scope, rearm.to_state, True, rearm)


@transaction.atomic
def trading_state_rearm_reject(*, rearm_id: int, actor, reason: str) -> TradingStateRearm:
    """Any risk officer (the requester withdrawing included) turns a re-arm request down: still HALTED."""
    require_risk_manager(actor, "reject a re-arm")
    reason = require_reason(reason)
    rearm = four_eyes_lock(REARMS, TradingStateRearm, rearm_id, missing=f"No re-arm request {rearm_id}.",
                           actor=actor, what="reject a re-arm")
    four_eyes_decide(REARMS, rearm, foureyes.REJECT, actor=actor, reason=reason, what="reject a re-arm")
    return rearm
