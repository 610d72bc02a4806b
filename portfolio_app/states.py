"""The rebalance proposal lifecycle (DESIGN.md, "State machines")."""

from __future__ import annotations

from desk.interfaces import ProposalStatus as S
from desk.statemachine import IllegalTransition, TransitionTable

_FAIL = {S.FAILED.value: S.FAILED.value}

PROPOSAL_TABLE = TransitionTable(
    "Proposal",
    {
        S.DRAFT.value: {S.PENDING_APPROVAL.value: S.PENDING_APPROVAL.value, S.SHADOW.value: S.SHADOW.value, **_FAIL},
        S.PENDING_APPROVAL.value: {
            S.APPROVED.value: S.APPROVED.value,
            S.REJECTED.value: S.REJECTED.value,
            S.EXPIRED.value: S.EXPIRED.value,
            S.STALE.value: S.STALE.value,
            **_FAIL,
        },
        S.APPROVED.value: {S.EXECUTING.value: S.EXECUTING.value, S.COMPLETED.value: S.COMPLETED.value, **_FAIL},
        S.EXECUTING.value: {S.COMPLETED.value: S.COMPLETED.value, **_FAIL},
    },
    terminal=frozenset(
        {S.COMPLETED.value, S.REJECTED.value, S.EXPIRED.value, S.STALE.value, S.FAILED.value, S.SHADOW.value}
    ),
)


# A portfolio has at most one proposal in these statuses (a database constraint, models.py).
OPEN_PROPOSAL_STATUSES = PROPOSAL_TABLE.open


def proposal_next(status: str, to: str) -> str:
    """Proposal events are named by the status they lead to."""
    return PROPOSAL_TABLE.next_status(status, to)


def is_actionable(status: str) -> bool:
    return status == S.PENDING_APPROVAL.value


__all__ = ["OPEN_PROPOSAL_STATUSES", "PROPOSAL_TABLE", "IllegalTransition", "proposal_next", "is_actionable"]
