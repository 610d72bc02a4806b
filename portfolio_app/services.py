"""Portfolio services (writes). Proposal status changes only through ``proposal_transition``.

The life of a proposal (DESIGN.md, "The flow of one rebalance"):

- ``proposal_request`` — a trader (API, button) or a rebalancing policy asks; the
  portfolio's *open* proposal (DRAFT, PENDING_APPROVAL, APPROVED, EXECUTING) is
  returned if there is one, else a DRAFT is created and the optimisation task
  enqueued after commit. **One open proposal per portfolio**: a new request while one
  is pending returns the existing one (never two competing sets of orders), unless
  that one has expired or gone stale, in which case it is closed and a fresh one
  computed. A database constraint backs this up against races.
- ``proposal_compute`` — DRAFT → PENDING_APPROVAL (SHADOW for a shadow-mode
  portfolio), or FAILED with a sentence a trader understands.
- ``proposal_refresh`` / ``proposals_expire`` — PENDING_APPROVAL → EXPIRED after
  ``DESK_PROPOSAL_TTL_MINUTES``, → STALE once a mark moved more than
  ``DESK_PROPOSAL_STALE_BAND_PCT`` from the proposal's reference price.
- ``proposal_approve`` / ``proposal_reject`` — the owning trader decides.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config import metrics
from execution_app import groups
from execution_app.clock_service import get_clock
from execution_app.events import event_publish
from execution_app.interfaces import ConfigError, ProposalStatus
from portfolio_app import states
from portfolio_app.models import Portfolio, ProposalEvent, ProposedTradeRow, RebalanceProposal
from portfolio_app.optimisation import OptimisationError
from portfolio_app.selectors import marks_at, may_decide, open_proposal
from portfolio_app.trades import TradeError

log = logging.getLogger(__name__)
S = ProposalStatus
IllegalTransition = states.IllegalTransition


class ProposalError(Exception):
    """A request about a proposal that cannot be carried out, with a readable reason."""


class ProposalForbidden(ProposalError):
    """The user may not decide on this proposal (not a Trader, or not an owner of the portfolio)."""


class ProposalNotActionable(ProposalError):
    """The proposal is no longer pending (approved, rejected, expired, stale, failed, shadow)."""


class ReasonRequired(ProposalError):
    pass


def proposal_payload(p: RebalanceProposal) -> dict[str, Any]:
    return {
        "id": p.pk,
        "portfolio_id": p.portfolio_id,
        "status": p.status,
        "strategy": p.strategy,
        "trigger": p.trigger,
        "reason": p.reason,
        "turnover": p.turnover,
        "estimated_costs": p.estimated_costs,
        "expires_at": p.expires_at,
        "decided_by": p.decided_by.username if p.decided_by_id and "decided_by" in p._state.fields_cache else None,
        "filled_share": p.filled_share,
    }


@transaction.atomic
def proposal_transition(*, proposal_id: int, to: str, actor=None, reason: str = "", **fields) -> RebalanceProposal:
    """Move a proposal through its lifecycle, locking its row (``select_for_update``).

    Raises ``states.IllegalTransition`` and changes nothing when the move is not allowed —
    which is how two concurrent approvals approve once: the second finds it APPROVED.
    """
    p = RebalanceProposal.objects.select_for_update().get(pk=proposal_id)
    new = states.proposal_next(p.status, to)
    from_status = p.status
    p.status = new
    update = ["status", *fields]
    for name, value in fields.items():
        setattr(p, name, value)
    if new in ("APPROVED", "REJECTED"):
        p.decided_by, p.decided_at = actor, timezone.now()
        update += ["decided_by", "decided_at"]
    if reason and new in ("REJECTED", "FAILED", "STALE", "EXPIRED"):
        p.reason = reason
        update.append("reason")
    p.save(update_fields=list(dict.fromkeys(update)))
    ProposalEvent.objects.create(proposal=p, from_status=from_status, to_status=new, actor=actor, reason=reason)
    transaction.on_commit(lambda: metrics.proposals.labels(new).inc())
    event_publish(event_type="proposal.updated", payload=proposal_payload(p), groups=[groups.portfolio(p.portfolio_id)])
    return p


# --- Requesting and computing -----------------------------------------------------------


def _enqueue_compute(proposal_id: int) -> None:
    def send():
        from portfolio_app.tasks import proposal_compute as task

        task.apply_async(kwargs={"proposal_id": proposal_id})

    transaction.on_commit(send)


def proposal_request(
    *, portfolio_id: int, trigger: str, actor=None, policy_date=None, enqueue: bool = True
) -> tuple[RebalanceProposal, bool]:
    """``(proposal, created)``: the portfolio's open proposal, or a new DRAFT.

    Locks the portfolio row while deciding. With ``enqueue`` the optimisation task
    computes the DRAFT after commit; without, the caller runs ``proposal_compute``.
    """
    existing = open_proposal(portfolio_id)
    if existing is not None and existing.status == S.PENDING_APPROVAL.value:
        proposal_refresh(proposal_id=existing.pk)  # an expired or stale one must not block a fresh one
    try:
        with transaction.atomic():
            portfolio = Portfolio.objects.select_for_update().get(pk=portfolio_id)
            existing = open_proposal(portfolio_id)
            if existing is not None:
                return existing, False
            if policy_date is not None:
                done = RebalanceProposal.objects.filter(portfolio_id=portfolio_id, policy_date=policy_date).first()
                if done is not None:
                    return done, False
            p = RebalanceProposal.objects.create(
                portfolio=portfolio,
                status=S.DRAFT.value,
                strategy=portfolio.strategy,
                trigger=trigger[:128],
                created_by=actor,
                market_time=get_clock().market_now(),
                policy_date=policy_date,
            )
            ProposalEvent.objects.create(proposal=p, from_status="", to_status=S.DRAFT.value, actor=actor, reason=trigger)
            event_publish(event_type="proposal.updated", payload=proposal_payload(p), groups=[groups.portfolio(portfolio_id)])
            if enqueue:
                _enqueue_compute(p.pk)
            return p, True
    except IntegrityError:  # lost a race with another request: the winner's proposal is the one
        winner = open_proposal(portfolio_id) or RebalanceProposal.objects.filter(
            portfolio_id=portfolio_id, policy_date=policy_date
        ).first()
        if winner is None:
            raise
        return winner, False


def _fail(proposal_id: int, code: str, sentence: str) -> RebalanceProposal:
    try:
        return proposal_transition(proposal_id=proposal_id, to=S.FAILED.value, reason=sentence, failure_code=code)
    except IllegalTransition:
        return RebalanceProposal.objects.get(pk=proposal_id)


def _finite(x) -> float | None:
    # JSON (and PostgreSQL's jsonb) has no NaN or infinity.
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _trade_verdicts(portfolio_id: int, plan) -> tuple[list[dict], dict]:
    """The what-if pre-trade check of the whole proposal (caller holds the portfolio row lock).

    Wall-clock limits (order rate, duplicates) are left to approval time: they are about
    when orders are sent, which a proposal waiting for a trader does not know yet.
    """
    # The pipeline's risk stage already took the what-if (construction.proposal_plan).
    verdicts, post = list(plan.verdicts), dict(plan.post_trade)
    rows = [
        {
            "passed": v.passed,
            "reasons": v.reasons,
            "warnings": v.warnings,
            "breaches": [
                {"name": b.name, "kind": b.kind, "action": b.action, "threshold": _finite(b.threshold),
                 "value": _finite(b.value), "reason": b.reason}
                for b in v.breaches
            ],
        }
        for v in verdicts
    ]
    reasons = list(dict.fromkeys(r for v in rows for r in v["reasons"]))
    warnings = list(dict.fromkeys(w for v in rows for w in v["warnings"]))
    whole = {
        "passed": all(v["passed"] for v in rows),
        "blocked": sum(not v["passed"] for v in rows),
        "warned": sum(bool(v["warnings"]) for v in rows),
        "reasons": reasons,
        "warnings": warnings,
        "checked_at": timezone.now().isoformat(),
        "post_trade": {k: _finite(v) for k, v in post.items()},
    }
    return rows, whole


def proposal_compute(*, proposal_id: int) -> RebalanceProposal:
    """DRAFT → PENDING_APPROVAL / SHADOW, or FAILED with its sentence. Safe to run twice."""
    from portfolio_app.construction import proposal_plan

    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    if p.status != S.DRAFT.value:
        return p
    portfolio = p.portfolio
    market_now = p.market_time or get_clock().market_now()
    try:
        plan = proposal_plan(portfolio, market_now=market_now)
    except OptimisationError as e:
        return _fail(p.pk, e.code, str(e))
    except ConfigError as e:
        return _fail(p.pk, "config", f"The portfolio's configuration is invalid: {e.field}: {e.reason}.")
    except TradeError as e:
        return _fail(p.pk, "trades", str(e))
    except Exception:  # noqa: BLE001 - a proposal never stays stuck in DRAFT
        log.exception("proposal %s: computation failed", p.pk)
        return _fail(p.pk, "error", "The proposal could not be computed because of an internal error (logged). Request a fresh one.")

    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        p = RebalanceProposal.objects.select_for_update().get(pk=proposal_id)
        if p.status != S.DRAFT.value:
            return p
        row_verdicts, verdict = _trade_verdicts(portfolio.pk, plan)
        ProposedTradeRow.objects.bulk_create(
            [
                ProposedTradeRow(
                    proposal=p,
                    instrument_id=plan.instrument_ids[t.symbol],
                    side=t.side.value,
                    quantity=t.quantity,
                    price=t.price,
                    notional=(t.quantity * t.price).quantize(Decimal("0.01")),
                    weight_before=t.weight_before,
                    weight_after=t.weight_after,
                    risk=row_verdicts[k] if k < len(row_verdicts) else {},
                )
                for k, t in enumerate(plan.trades)
            ]
        )
        shadow = portfolio.mode == Portfolio.Mode.SHADOW
        ttl = timedelta(minutes=float(settings.DESK_PROPOSAL_TTL_MINUTES))
        return proposal_transition(
            proposal_id=p.pk,
            to=S.SHADOW.value if shadow else S.PENDING_APPROVAL.value,
            strategy=plan.strategy,
            params={**(p.params or {}), **plan.params},
            target_weights=plan.target_weights,
            current_weights=plan.current_weights,
            metrics_before=plan.metrics_before,
            metrics_after=plan.metrics_after,
            turnover=Decimal(repr(round(plan.turnover, 6))),
            estimated_costs=plan.estimated_costs,
            risk_verdict=verdict,
            reference_prices={s: str(v) for s, v in plan.reference_prices.items()},
            risk_report=plan.risk_report,
            provenance=plan.provenance,
            inputs_hash=plan.inputs_hash,
            expires_at=None if shadow else timezone.now() + ttl,
        )


def proposal_create(*, portfolio_id: int, trigger: str, actor=None, requested: bool = False, policy_date=None) -> RebalanceProposal:
    """Request and compute in this process: the open proposal, or a freshly computed one.

    ``requested`` (a trader asked) is recorded in the trigger; policies pass ``policy_date``.
    """
    if requested and actor is not None and "by" not in trigger:
        trigger = f"{trigger} by {actor.get_username()}"
    p, created = proposal_request(portfolio_id=portfolio_id, trigger=trigger, actor=actor, policy_date=policy_date, enqueue=False)
    return proposal_compute(proposal_id=p.pk) if created or p.status == S.DRAFT.value else p


# --- Expiry and staleness ---------------------------------------------------------------


def stale_move(reference_prices: dict[str, str], marks: dict[str, Decimal]) -> tuple[str, float] | None:
    """The symbol whose mark moved most from its reference price, and by how much (fraction)."""
    worst = None
    for s, ref in reference_prices.items():
        ref_d = Decimal(str(ref))
        if s not in marks or ref_d <= 0:
            continue
        move = abs(float(marks[s] / ref_d) - 1.0)
        if worst is None or move > worst[1]:
            worst = (s, move)
    return worst


def proposal_refresh(*, proposal_id: int, now=None, market_now=None) -> RebalanceProposal:
    """A pending proposal past its expiry → EXPIRED; one whose marks left the band → STALE."""
    p = RebalanceProposal.objects.get(pk=proposal_id)
    if p.status != S.PENDING_APPROVAL.value:
        return p
    now = now or timezone.now()
    try:
        if p.expires_at is not None and p.expires_at <= now:
            ttl = settings.DESK_PROPOSAL_TTL_MINUTES
            return proposal_transition(proposal_id=p.pk, to=S.EXPIRED.value, reason=f"Not approved within {ttl:g} minutes.")
        band = float(settings.DESK_PROPOSAL_STALE_BAND_PCT) / 100.0
        market_now = market_now or get_clock().market_now()
        worst = stale_move(p.reference_prices, marks_at(list(p.reference_prices), market_now)) if p.reference_prices else None
        if worst is not None and worst[1] > band + 1e-12:
            s, move = worst
            return proposal_transition(
                proposal_id=p.pk, to=S.STALE.value,
                reason=f"{s} moved {move:.1%} since the proposal was computed, beyond the {band:.0%} band: request a fresh one.",
            )
    except IllegalTransition:  # decided meanwhile
        return RebalanceProposal.objects.get(pk=proposal_id)
    return p


def proposals_expire(*, now=None) -> dict[str, int]:
    """Beat: refresh every pending proposal; fail DRAFTs whose computation was lost."""
    now = now or timezone.now()
    market_now = get_clock().market_now()
    counts = {"expired": 0, "stale": 0, "lost": 0}
    for pid in RebalanceProposal.objects.filter(status=S.PENDING_APPROVAL.value).values_list("id", flat=True):
        status = proposal_refresh(proposal_id=pid, now=now, market_now=market_now).status
        if status in (S.EXPIRED.value, S.STALE.value):
            counts[status.lower()] += 1
    cutoff = now - timedelta(seconds=settings.DESK_PROPOSAL_DRAFT_TIMEOUT_SECONDS)
    for pid in RebalanceProposal.objects.filter(status=S.DRAFT.value, created_at__lt=cutoff).values_list("id", flat=True):
        _fail(pid, "lost", "The computation did not finish in time (worker lost?). Request a fresh one.")
        counts["lost"] += 1
    return counts


# --- Deciding (approval creates the orders) ---------------------------------------------

from portfolio_app.approval import proposal_approve, proposal_complete_if_done, proposal_reject  # noqa: E402
from portfolio_app.policies import rebalance_policies_run  # noqa: E402
from portfolio_app.prices import price_bars_import  # noqa: E402

__all__ = [
    "IllegalTransition", "ProposalError", "ProposalForbidden", "ProposalNotActionable", "ReasonRequired",
    "proposal_approve", "proposal_complete_if_done", "proposal_compute", "proposal_create", "proposal_payload",
    "proposal_refresh", "proposal_reject", "proposal_request", "proposal_transition", "proposals_expire",
    "rebalance_policies_run", "may_decide", "price_bars_import",
]
