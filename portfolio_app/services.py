"""Portfolio services (writes). Proposal status changes only through ``proposal_transition``.

The proposal's own lifecycle lives here (DESIGN.md, "The flow of one rebalance"); the
workflow that requests, computes and decides one spans apps and lives in
``execution_app.rebalance`` (``services``: request and compute; ``approval``: approve and
reject); an order's completion settles it (``orders_app.working.proposal_settle``).

- ``proposal_transition`` — the one apply function of the proposal state machine.
- ``proposal_fail`` — any non-terminal proposal → FAILED with a sentence a trader understands.
- ``proposal_refresh`` / ``proposals_expire`` — PENDING_APPROVAL → EXPIRED after
  ``DESK_PROPOSAL_TTL_MINUTES``, → STALE once a mark moved more than
  ``DESK_PROPOSAL_STALE_BAND_PCT`` from the proposal's reference price.
- ``nav_snapshots_take`` — a NAV snapshot per portfolio at each session's close.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from desk.lifecycle import transition
from desk.errors import Conflict, Forbidden, Invalid
from desk import metrics
from desk import groups
from market_app.clock import get_clock
from desk.events import event_publish
from desk.interfaces import ProposalStatus
from portfolio_app import states
from market_app.marks import MissingMark, marks_found
from portfolio_app.models import NavSnapshot, Portfolio, ProposalEvent, RebalanceProposal
from portfolio_app.valuation import portfolio_value

log = logging.getLogger(__name__)
S = ProposalStatus
IllegalTransition = states.IllegalTransition


class ProposalError(Conflict):
    """A request about a proposal that cannot be carried out, with a readable reason."""


class ProposalForbidden(ProposalError):
    """The user may not decide on this proposal (not a Trader, or not an owner of the portfolio)."""

    code, status = Forbidden.code, Forbidden.status


class ProposalNotActionable(ProposalError):
    """The proposal is no longer pending (approved, rejected, expired, stale, failed, shadow)."""


class ReasonRequired(ProposalError):
    """A decision that needs a reason was given none."""

    code, status = Invalid.code, Invalid.status


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
    with transition(RebalanceProposal.LIFECYCLE):
        p.save(update_fields=list(dict.fromkeys(update)))
    ProposalEvent.objects.create(proposal=p, from_status=from_status, to_status=new, actor=actor, reason=reason)
    transaction.on_commit(lambda: metrics.proposals.labels(new).inc())
    event_publish(event_type="proposal.updated", payload=proposal_payload(p), groups=[groups.portfolio(p.portfolio_id)])
    return p


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
        # A symbol without a mark cannot have moved beyond the band: it is left out.
        worst = stale_move(p.reference_prices, marks_found(list(p.reference_prices), market_now)[0]) if p.reference_prices else None
        if worst is not None and worst[1] > band + 1e-12:
            s, move = worst
            return proposal_transition(
                proposal_id=p.pk, to=S.STALE.value,
                reason=f"{s} moved {move:.1%} since the proposal was computed, beyond the {band:.0%} band: request a fresh one.",
            )
    except IllegalTransition:  # decided meanwhile
        return RebalanceProposal.objects.get(pk=proposal_id)
    return p


def proposal_fail(*, proposal_id: int, code: str, sentence: str) -> RebalanceProposal:
    """A non-terminal proposal → FAILED with its code and a sentence a trader understands; a decided one is left alone."""
    try:
        return proposal_transition(proposal_id=proposal_id, to=S.FAILED.value, reason=sentence, failure_code=code)
    except IllegalTransition:
        return RebalanceProposal.objects.get(pk=proposal_id)


def proposals_expire(*, now=None) -> dict[str, int]:
    """Beat: refresh every pending proposal; fail DRAFTs whose computation was lost."""
    now = now or timezone.now()
    market_now = get_clock().market_now()
    counts = {"expired": 0, "stale": 0, "lost": 0}
    pending = RebalanceProposal.objects.filter(status=S.PENDING_APPROVAL.value).values_list("id", "portfolio_id", "created_by_id")
    for pid, portfolio_id, requester in pending:
        status = proposal_refresh(proposal_id=pid, now=now, market_now=market_now).status
        if status in (S.EXPIRED.value, S.STALE.value):
            counts[status.lower()] += 1
        if status == S.STALE.value and requester is None:
            # The desk asked for this one (a policy, the demo): it asks again at today's prices, so a trader
            # finds a proposal to decide rather than a stale one. A trader's own request is theirs to repeat.
            from desk.tasks import enqueue_on_commit

            enqueue_on_commit("execution_app.tasks.proposal_compute",
                              kwargs={"portfolio_id": portfolio_id, "trigger": f"fresh after proposal #{pid} went stale"})
    cutoff = now - timedelta(seconds=settings.DESK_PROPOSAL_DRAFT_TIMEOUT_SECONDS)
    for pid in RebalanceProposal.objects.filter(status=S.DRAFT.value, created_at__lt=cutoff).values_list("id", flat=True):
        proposal_fail(proposal_id=pid, code="lost", sentence="The computation did not finish in time (worker lost?). Request a fresh one.")
        counts["lost"] += 1
    return counts


# --- NAV snapshots at the closes --------------------------------------------------------


def nav_snapshots_take() -> int:
    """A NAV snapshot per portfolio at the last closed session (idempotent), and the peak NAV.

    Valued at that session's close (the mark rule at its closing time), so "today's P&L" and
    drawdown have a stable base. A portfolio holding an instrument without a close gets no
    snapshot (logged, naming it) rather than a NAV that counts the position as worth nothing.
    """
    clock = get_clock()
    session = clock.last_closed_session()
    if session is None:
        return 0
    at = clock.session_close(session)
    done = set(NavSnapshot.objects.filter(session=session).values_list("portfolio_id", flat=True))
    made = 0
    for p in Portfolio.objects.exclude(pk__in=done):
        try:
            with transaction.atomic():
                pf = Portfolio.objects.select_for_update().get(pk=p.pk)
                nav = portfolio_value(pf, at).nav.quantize(Decimal("0.01"))
                _, created = NavSnapshot.objects.get_or_create(portfolio=pf, session=session, defaults={"nav": nav, "cash": pf.cash})
                if created:
                    made += 1
                    if pf.peak_nav is None or nav > pf.peak_nav:
                        pf.peak_nav = nav
                        pf.save(update_fields=["peak_nav"])
        except MissingMark as e:
            log.error("nav snapshot of %s for %s not taken: %s", p.name, session, e)
    log.info("nav snapshots: session %s, %d made", session, made)
    return made
