"""Portfolio services (writes). Proposal status changes only through ``proposal_transition``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from execution_app import groups
from execution_app.events import event_publish
from portfolio_app import states
from portfolio_app.models import ProposalEvent, RebalanceProposal


def proposal_payload(p: RebalanceProposal) -> dict[str, Any]:
    return {
        "id": p.pk,
        "portfolio_id": p.portfolio_id,
        "status": p.status,
        "strategy": p.strategy,
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
    event_publish(event_type="proposal.updated", payload=proposal_payload(p), groups=[groups.portfolio(p.portfolio_id)])
    return p
