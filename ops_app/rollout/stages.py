"""Gradual rollout of a strategy configuration: shadow -> canary -> full, or rolled back.

- ``rollout_create`` (admins): a candidate configuration for a set of whole portfolios; it
  starts in *shadow*: ``rollout_shadow_compute`` runs the candidate through the proposal
  pipeline for each portfolio and records the result (``RolloutShadowRun``), never a proposal,
  never an order.
- ``rollout_promotion_request`` (admins) -> ``rollout_promotion_decide`` (a risk officer who did
  not ask: ``desk.foureyes``): to *canary* on the chosen portfolios, then to *full* on the rest.
  Each portfolio the rollout changes gets a new strategy version naming the rollout, and the
  version it ran before is kept in ``incumbent_versions``.
- ``rollout_roll_back``: every changed portfolio back to its incumbent version (new versions
  again, so the history reads forwards), the canary's pending proposals expired (their orders
  would follow a configuration no longer in force); working orders go on under the pre-trade
  gate. By hand (admins, risk officers) or automatically when a rollout alert rule fires during
  canary (``ops_app.alert_rules.rules``), with an alert saying why.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from desk import foureyes, roles
from desk.errors import Conflict, Forbidden, Invalid, NotFound
from desk.lifecycle import transition
from desk.statemachine import TransitionTable
from ops_app.models import Rollout, RolloutPromotion, RolloutShadowRun
from portfolio_app.models import STRATEGY_VERSIONED, Portfolio, RebalanceProposal, StrategyVersion
from portfolio_app.strategy_versions import StrategyInvalid, strategy_config_of, strategy_validate, strategy_version_apply

log = logging.getLogger(__name__)
St = Rollout.Stage

PROMOTE, ROLL_BACK, ABANDON = "promote", "roll_back", "abandon"
ROLLOUT = TransitionTable(
    "Rollout",
    {
        St.SHADOW: {PROMOTE: St.CANARY, ABANDON: St.ABANDONED},
        St.CANARY: {PROMOTE: St.FULL, ROLL_BACK: St.ROLLED_BACK},
        St.FULL: {ROLL_BACK: St.ROLLED_BACK},
    },
    terminal=frozenset({St.ROLLED_BACK, St.ABANDONED}),
)
OPEN_STAGES = ROLLOUT.open
PROMOTION = foureyes.request_table("Rollout promotion")
PROMOTION_FOUR_EYES = foureyes.FourEyes(
    table=PROMOTION, may_request=frozenset({roles.ADMIN}), may_decide=frozenset({roles.RISK_OFFICER}),
    noun="promotion", checker="risk officer", reason_text="Say why.",
)
ROLLBACK_ALERT_KIND = "rollout_rollback"


class RolloutInvalid(Invalid):
    """A rollout request with a bad field; nothing was saved."""


class RolloutRefused(Forbidden):
    """Your role does not allow this rollout step."""


class RolloutConflict(Conflict):
    """The rollout's stage does not allow this now."""


def _fail(field: str, reason: str, cls=RolloutInvalid):
    raise cls(f"{field}: {reason}", field_errors={field: reason})


def _stage_move(rollout: Rollout, event: str, **fields) -> str:
    """The one writer of ``Rollout.stage`` (caller holds the row lock)."""
    new = ROLLOUT.next_status(rollout.stage, event)
    rollout.stage, rollout.stage_changed_at = new, timezone.now()
    for name, value in fields.items():
        setattr(rollout, name, value)
    with transition(Rollout.LIFECYCLE):
        rollout.save(update_fields=["stage", "stage_changed_at", *fields])
    return new


def _locked(rollout_id: int) -> Rollout:
    rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
    if rollout is None:
        raise NotFound(f"No rollout {rollout_id}.")
    return rollout


# --- Create, shadow ----------------------------------------------------------------------------


def rollout_validate(*, name: Any, portfolio_ids: Any, candidate: Any, reason: Any, min_sample: Any = 20,
                     min_window_minutes: Any = 60) -> dict[str, Any]:
    """The cleaned fields of a new rollout, or ``RolloutInvalid`` naming the first bad field."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
        _fail("name", "must be 1 to 128 characters")
    text = foureyes.require_reason(reason, "Say why this configuration should go out.")
    if not isinstance(portfolio_ids, (list, tuple)) or not portfolio_ids:
        _fail("portfolios", "name at least one portfolio")
    try:
        ids = sorted({int(i) for i in portfolio_ids})
    except (TypeError, ValueError):
        _fail("portfolios", "must be portfolio ids")
    found = list(Portfolio.objects.filter(pk__in=ids).order_by("pk"))
    if len(found) != len(ids):
        missing = sorted(set(ids) - {p.pk for p in found})
        _fail("portfolios", f"no portfolio {missing[0]}")
    if not isinstance(candidate, dict) or not candidate:
        _fail("candidate", f"must be an object with some of {', '.join(STRATEGY_VERSIONED)}")
    for p in found:  # the candidate must be a valid configuration on every portfolio it may reach
        try:
            strategy_validate(p, candidate)
        except StrategyInvalid as exc:
            [(field, why)] = list(exc.field_errors.items())[:1]
            _fail(f"candidate.{field}", f"{why} (portfolio {p.name})")
    busy = Rollout.objects.filter(stage__in=OPEN_STAGES, portfolios__in=ids).distinct().first()
    if busy is not None:
        _fail("portfolios", f"already in rollout '{busy.name}' ({busy.stage}); one open rollout per portfolio")
    out = {"name": name.strip(), "ids": ids, "candidate": dict(candidate), "reason": text}
    for f, v, lo, hi in (("min_sample", min_sample, 1, 100_000), ("min_window_minutes", min_window_minutes, 0, 100_000)):
        try:
            out[f] = int(v)
            if not lo <= out[f] <= hi or str(out[f]) != str(v).strip():
                raise ValueError
        except (TypeError, ValueError):
            _fail(f, f"must be a whole number from {lo} to {hi}, got {v!r}")
    return out


def rollout_create(*, actor, name: Any, portfolio_ids: Any, candidate: Any, reason: Any, min_sample: Any = 20,
                   min_window_minutes: Any = 60, shadow_now: bool = True) -> Rollout:
    """A new rollout in shadow (admins). Its first shadow computation is enqueued after commit."""
    from desk.tasks import enqueue_on_commit

    if not roles.is_admin(actor):
        raise RolloutRefused("Only admins start a rollout.")
    clean = rollout_validate(name=name, portfolio_ids=portfolio_ids, candidate=candidate, reason=reason,
                             min_sample=min_sample, min_window_minutes=min_window_minutes)
    with transaction.atomic():
        rollout = Rollout.objects.create(name=clean["name"], candidate=clean["candidate"], reason=clean["reason"],
                                         requested_by=actor, min_sample=clean["min_sample"],
                                         min_window_minutes=clean["min_window_minutes"])
        rollout.portfolios.set(clean["ids"])
        if shadow_now:
            enqueue_on_commit("ops_app.tasks.rollout_shadow_compute", kwargs={"rollout_id": rollout.pk})
    return rollout


def rollout_shadow_compute(*, rollout_id: int) -> list[RolloutShadowRun]:
    """Run the candidate through the proposal pipeline for each portfolio of a rollout in shadow, and
    record what it would have proposed. Nothing is proposed, nothing traded."""
    from execution_app.rebalance.construction import proposal_plan
    from market_app.clock import get_clock

    rollout = Rollout.objects.get(pk=rollout_id)
    if rollout.stage != St.SHADOW:
        return []
    market_now = get_clock().market_now()
    runs = []
    for portfolio in rollout.portfolios.all().order_by("pk"):
        trial = copy.copy(portfolio)
        for f, v in {**strategy_config_of(portfolio), **rollout.candidate}.items():
            setattr(trial, f, v)
        try:
            plan = proposal_plan(trial, market_now=market_now)
            run = RolloutShadowRun(rollout=rollout, portfolio=portfolio, market_time=market_now,
                                   target_weights=plan.target_weights, turnover=float(plan.turnover),
                                   metrics_after={k: v for k, v in (plan.metrics_after or {}).items()})
        except Exception as exc:  # noqa: BLE001 - a shadow failure is recorded, it is what shadow is for
            run = RolloutShadowRun(rollout=rollout, portfolio=portfolio, market_time=market_now,
                                   error=f"{type(exc).__name__}: {exc}"[:2000])
        run.save()
        runs.append(run)
    return runs


# --- Promotion (four eyes) -------------------------------------------------------------------------


def rollout_promotion_request(*, actor, rollout_id: int, reason: Any, canary_ids: Any = None) -> RolloutPromotion:
    """Ask for the next stage (admins): to canary with the chosen portfolios, or to full."""
    if not roles.is_admin(actor):
        raise RolloutRefused("Only admins request a rollout's promotion; a risk officer signs it off.")
    text = foureyes.require_reason(reason, "Say why it should move on.")
    with transaction.atomic():
        rollout = _locked(rollout_id)
        target = ROLLOUT.table.get(rollout.stage, {}).get(PROMOTE)
        if target is None:
            _fail("stage", f"a rollout in {rollout.stage} cannot be promoted", RolloutConflict)
        if rollout.promotions.filter(status=RolloutPromotion.Status.PENDING).exists():
            _fail("stage", "a promotion of this rollout is already waiting for a risk officer", RolloutConflict)
        ids: list[int] = []
        if target == St.CANARY:
            scope = set(rollout.portfolios.values_list("pk", flat=True))
            if not isinstance(canary_ids, (list, tuple)) or not canary_ids:
                _fail("canary", "choose the canary portfolios (whole portfolios of the rollout)")
            try:
                ids = sorted({int(i) for i in canary_ids})
            except (TypeError, ValueError):
                _fail("canary", "must be portfolio ids")
            outside = sorted(set(ids) - scope)
            if outside:
                _fail("canary", f"portfolio {outside[0]} is not in this rollout")
        return RolloutPromotion.objects.create(rollout=rollout, to_stage=target, canary_ids=ids, reason=text,
                                               requested_by=actor)


def _incumbent_number(portfolio_id: int) -> int:
    """The portfolio's current version number (version 1 recorded first if it has none yet)."""
    last = StrategyVersion.objects.filter(portfolio_id=portfolio_id).order_by("-number").first()
    if last is not None:
        return last.number
    p = Portfolio.objects.get(pk=portfolio_id)
    return StrategyVersion.objects.create(portfolio=p, number=1, config=strategy_config_of(p),
                                          reason="configuration before versioning").number


def _apply_candidate(rollout: Rollout, portfolio_ids: list[int], *, actor, stage: str) -> None:
    incumbents = dict(rollout.incumbent_versions or {})
    for pid in portfolio_ids:
        incumbents.setdefault(str(pid), _incumbent_number(pid))
        strategy_version_apply(portfolio_id=pid, config=rollout.candidate, actor=actor,
                               reason=f"rollout '{rollout.name}' ({stage})", rollout_id=rollout.pk)
    rollout.incumbent_versions = incumbents


def rollout_promotion_decide(*, actor, promotion_id: int, approve: bool, reason: str = "") -> RolloutPromotion:
    """A risk officer other than the requester approves (the rollout moves on, the candidate goes onto
    its portfolios) or rejects. Locks the rollout, then the promotion."""
    with transaction.atomic():
        head = RolloutPromotion.objects.filter(pk=promotion_id).values_list("rollout_id", flat=True).first()
        if head is None:
            raise NotFound(f"No promotion {promotion_id}.")
        rollout = _locked(head)
        promo = RolloutPromotion.objects.select_for_update().get(pk=promotion_id)
        event = foureyes.APPROVE if approve else foureyes.REJECT
        status, text = PROMOTION_FOUR_EYES.decide(
            status=promo.status, event=event, requester_id=promo.requested_by_id, actor_id=actor.pk,
            roles=roles.roles_of(actor), reason=reason, what="decide a rollout promotion")
        if approve:
            if ROLLOUT.table.get(rollout.stage, {}).get(PROMOTE) != promo.to_stage:
                _fail("stage", f"the rollout is {rollout.stage} now; this promotion no longer applies", RolloutConflict)
            if promo.to_stage == St.CANARY:
                _apply_candidate(rollout, list(promo.canary_ids), actor=actor, stage="canary")
                rollout.canary.set(promo.canary_ids)
                _stage_move(rollout, PROMOTE, incumbent_versions=rollout.incumbent_versions,
                            canary_started_at=timezone.now())
            else:
                rest = sorted(set(rollout.portfolios.values_list("pk", flat=True)) - set(rollout.canary.values_list("pk", flat=True)))
                _apply_candidate(rollout, rest, actor=actor, stage="full")
                _stage_move(rollout, PROMOTE, incumbent_versions=rollout.incumbent_versions)
        promo.status, promo.decided_by, promo.decided_at, promo.decision_reason = status, actor, timezone.now(), text
        with transition(RolloutPromotion.LIFECYCLE):
            promo.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        return promo


# --- Roll back, abandon ----------------------------------------------------------------------------


def rollout_roll_back(*, rollout_id: int, reason: str, actor=None) -> Rollout:
    """Back to the incumbent versions (locks the rollout). ``actor`` None is the desk itself (an alert
    rule fired), which raises a critical alert saying why; a person must be an admin or a risk officer."""
    from risk_app.services.alerts import alert_raise

    if actor is not None and not roles.has_role(actor, roles.ADMIN, roles.RISK_OFFICER):
        raise RolloutRefused("Only admins and risk officers roll a rollout back.")
    text = foureyes.require_reason(reason, "Say why it is rolled back.")
    with transaction.atomic():
        rollout = _locked(rollout_id)
        if ROLLOUT.table.get(rollout.stage, {}).get(ROLL_BACK) is None:
            _fail("stage", f"a rollout in {rollout.stage} cannot be rolled back", RolloutConflict)
        was = rollout.stage
        for pid, number in sorted((rollout.incumbent_versions or {}).items()):
            version = StrategyVersion.objects.get(portfolio_id=int(pid), number=number)
            strategy_version_apply(portfolio_id=int(pid), config=version.config, actor=actor, restored_from=number,
                                   reason=f"rollback of rollout '{rollout.name}': {text}", rollout_id=rollout.pk)
        expired = _expire_pending(list(rollout.canary.values_list("pk", flat=True)), rollout, actor)
        for promo in rollout.promotions.filter(status=RolloutPromotion.Status.PENDING):
            promo.status, promo.decision_reason = PROMOTION.next_status(promo.status, foureyes.EXPIRE), "rolled back"
            with transition(RolloutPromotion.LIFECYCLE):
                promo.save(update_fields=["status", "decision_reason"])
        _stage_move(rollout, ROLL_BACK, ended_reason=text, ended_by=actor)
        who = "automatically" if actor is None else f"by {actor.get_username()}"
        alert_raise(kind=ROLLBACK_ALERT_KIND, key=f"rollout:{rollout.pk}:rolled_back", severity="critical",
                    message=f"Rollout '{rollout.name}' rolled back {who} from {was}: {text}"
                            + (f"; {expired} pending proposal(s) expired" if expired else ""))
    log.warning("rollout rolled back", extra={"rollout": rollout.pk, "reason": text, "automatic": actor is None})
    return rollout


def _expire_pending(portfolio_ids: list[int], rollout: Rollout, actor) -> int:
    from portfolio_app.services import proposal_transition

    n = 0
    for pid in RebalanceProposal.objects.filter(portfolio_id__in=portfolio_ids, status="PENDING_APPROVAL") \
            .values_list("pk", flat=True):
        proposal_transition(proposal_id=pid, to="EXPIRED", actor=actor,
                            reason=f"Rollout '{rollout.name}' was rolled back: this proposal followed its configuration.")
        n += 1
    return n


def rollout_abandon(*, actor, rollout_id: int, reason: str) -> Rollout:
    """Stop a rollout still in shadow (admins): nothing was applied, nothing to restore."""
    if not roles.is_admin(actor):
        raise RolloutRefused("Only admins abandon a rollout.")
    text = foureyes.require_reason(reason, "Say why it is abandoned.")
    with transaction.atomic():
        rollout = _locked(rollout_id)
        if ROLLOUT.table.get(rollout.stage, {}).get(ABANDON) is None:
            _fail("stage", f"a rollout in {rollout.stage} cannot be abandoned (roll it back)", RolloutConflict)
        for promo in rollout.promotions.filter(status=RolloutPromotion.Status.PENDING):
            promo.status, promo.decision_reason = PROMOTION.next_status(promo.status, foureyes.EXPIRE), "abandoned"
            with transition(RolloutPromotion.LIFECYCLE):
                promo.save(update_fields=["status", "decision_reason"])
        _stage_move(rollout, ABANDON, ended_reason=text, ended_by=actor)
        return rollout


def rollouts_roll_back_fired(*, firing: dict[str, tuple], rule_name: str) -> list[int]:
    """The automatic rollback: each rollout an alert rule fires for (subject = rollout id) that is still in
    canary is rolled back with the rule's message. Returns the ids rolled back."""
    done = []
    for subject, (message, _value, _pid) in firing.items():
        if not str(subject).isdigit():
            continue
        if not Rollout.objects.filter(pk=int(subject), stage=St.CANARY).exists():
            continue
        try:
            rollout_roll_back(rollout_id=int(subject), reason=f"alert rule '{rule_name}': {message}")
            done.append(int(subject))
        except RolloutConflict:  # another evaluation rolled it back first
            continue
    return done
