"""Proposing a rebalance: the workflow that spans signals, portfolio, risk and orders.

- ``proposal_request`` — a trader (API, button) or a rebalancing policy asks; the
  portfolio's *open* proposal (DRAFT, PENDING_APPROVAL, APPROVED, EXECUTING) is
  returned if there is one, else a DRAFT is created and the optimisation task
  enqueued after commit. **One open proposal per portfolio**: a new request while one
  is pending returns the existing one (never two competing sets of orders), unless
  that one has expired or gone stale, in which case it is closed and a fresh one
  computed. A database constraint backs this up against races.
- ``proposal_compute`` — DRAFT → PENDING_APPROVAL (SHADOW for a shadow-mode
  portfolio), or FAILED with a sentence a trader understands, through
  ``construction.proposal_plan`` (views → optimiser → sizing → trades → proposal check).

Proposal status changes go through ``portfolio_app.services.proposal_transition``.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from desk.tasks import enqueue_on_commit
from desk import groups
from desk.events import event_publish
from desk.interfaces import ConfigError, ProposalStatus
from execution_app.rebalance.construction import proposal_plan
from market_app.clock import get_clock
from market_app.marks import MissingMark
from portfolio_app.models import Portfolio, ProposalEvent, ProposedTradeRow, RebalanceProposal
from portfolio_app.optimisation import OptimisationError
from portfolio_app.selectors import may_decide, open_proposal
from portfolio_app.services import ProposalForbidden, proposal_fail, proposal_payload, proposal_refresh, proposal_transition
from portfolio_app.trades import TradeError

log = logging.getLogger(__name__)
S = ProposalStatus


def _enqueue_compute(proposal_id: int) -> None:
    enqueue_on_commit("execution_app.tasks.proposal_compute", kwargs={"proposal_id": proposal_id})


def proposal_request(
    *, portfolio_id: int, trigger: str, actor=None, policy_date=None, enqueue: bool = True
) -> tuple[RebalanceProposal, bool]:
    """``(proposal, created)``: the portfolio's open proposal, or a new DRAFT.

    Locks the portfolio row while deciding. With ``enqueue`` the optimisation task
    computes the DRAFT after commit; without, the caller runs ``proposal_compute``.
    ``actor``: a trader who owns the portfolio (``ProposalForbidden`` otherwise); ``None`` is a
    rebalancing policy, the desk itself.
    """
    if actor is not None:
        portfolio = Portfolio.objects.get(pk=portfolio_id)
        if not may_decide(actor, portfolio):
            raise ProposalForbidden(f"Only a trader who owns {portfolio.name} may request its rebalance.")
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
    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    if p.status != S.DRAFT.value:
        return p
    portfolio = p.portfolio
    market_now = p.market_time or get_clock().market_now()
    try:
        plan = proposal_plan(portfolio, market_now=market_now)
    except OptimisationError as e:
        return proposal_fail(proposal_id=p.pk, code=e.code, sentence=str(e))
    except ConfigError as e:
        return proposal_fail(proposal_id=p.pk, code="config", sentence=f"The portfolio's configuration is invalid: {e.field}: {e.reason}.")
    except TradeError as e:
        return proposal_fail(proposal_id=p.pk, code="trades", sentence=str(e))
    except MissingMark as e:
        return proposal_fail(proposal_id=p.pk, code=e.code, sentence=str(e))
    except Exception:  # noqa: BLE001 - a proposal never stays stuck in DRAFT
        log.exception("proposal %s: computation failed", p.pk)
        return proposal_fail(proposal_id=p.pk, code="error", sentence="The proposal could not be computed because of an internal error (logged). Request a fresh one.")

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
