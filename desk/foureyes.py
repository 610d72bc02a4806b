"""Four eyes: one person requests a change, a *different* person with the right role decides it.

The rule of every such flow on the desk - loosening a limit, re-arming a halted
kill switch, approving a rebalance proposal (maker != checker) - lives here,
once:

- only the roles a flow names may request, and only the roles it names may decide;
- a reason is required to request and to reject;
- the requester never approves their own request (rejecting it - withdrawing - is allowed);
- the request's own lifecycle is a transition table: ``pending`` -> approved,
  rejected or expired (a flow may give these statuses its own words, e.g. a
  re-arm is "confirmed" and "superseded"), and a decided request cannot be
  decided again.

Pure: it reads role names and ids, never the ORM or the request; the app's
service loads and locks the request, asks ``FourEyes`` for the next status,
then writes it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from desk.errors import Forbidden, Invalid
from desk.statemachine import TransitionTable

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
EXPIRED = "expired"

APPROVE = "approve"
REJECT = "reject"
EXPIRE = "expire"  # the request no longer makes sense (timed out, or the world moved on)


class RoleRefused(Forbidden):
    """The actor's role does not allow this step of a four-eyes flow."""


class OwnRequest(Forbidden):
    """The requester tried to approve their own request: a second person must."""


class ReasonRequired(Invalid):
    """A reason is required for this step."""


class AlreadyDecided(Invalid):
    """The request is no longer pending."""


def request_table(kind: str, *, approved: str = APPROVED, rejected: str = REJECTED,
                  expired: str = EXPIRED) -> TransitionTable:
    """A request's lifecycle, in the flow's own words for the three outcomes."""
    return TransitionTable(
        kind,
        {PENDING: {APPROVE: approved, REJECT: rejected, EXPIRE: expired}},
        terminal=frozenset({approved, rejected, expired}),
    )


@dataclass(frozen=True)
class FourEyes:
    """One four-eyes flow.

    ``noun`` names a request in sentences ("change", "re-arm request");
    ``approve_verb`` the approval ("approve", "confirm"); ``checker`` the
    person who must decide ("risk officer").  ``may_request`` and
    ``may_decide`` are role names.
    """

    table: TransitionTable
    may_request: frozenset[str]
    may_decide: frozenset[str]
    noun: str
    checker: str
    approve_verb: str = "approve"
    reason_text: str = "A reason is required."

    # -- the steps: each returns what the service records, or raises

    def require_role(self, roles: Collection[str], what: str, *, deciding: bool = False) -> None:
        allowed = self.may_decide if deciding else self.may_request
        if not allowed & set(roles):
            raise RoleRefused(f"Only {self.checker}s may {what}.")

    def request(self, *, roles: Collection[str], reason: str | None, what: str) -> str:
        """Filing a request: the role, and a reason (returned stripped)."""
        self.require_role(roles, what)
        return require_reason(reason, self.reason_text)

    def decide(self, *, status: str, event: str, requester_id, actor_id, roles: Collection[str],
               reason: str | None = "", what: str = "") -> tuple[str, str]:
        """``(next status, the decision's reason stripped)`` for ``event`` on a request in ``status``.

        Checked in this order: the role, a reason when rejecting, the request still
        pending, the decider not the requester (when approving).
        """
        self.require_role(roles, what or f"decide a {self.noun}", deciding=True)
        text = require_reason(reason, self.reason_text) if event == REJECT else (reason or "").strip()
        if status != PENDING:
            raise AlreadyDecided(f"This {self.noun} is already {status}.",
                                 field_errors={"status": f"This {self.noun} is already {status}."})
        if event == APPROVE:
            second_person(requester_id, actor_id, noun=self.noun, checker=self.checker, verb=self.approve_verb)
        return self.table.next_status(status, event), text


def second_person(requester_id, actor_id, *, noun: str, checker: str, verb: str = "approve") -> None:
    """Maker is not checker: whoever asked for something never approves it. ``requester_id`` None is the
    desk itself (a policy), which any checker may approve."""
    if requester_id is not None and requester_id == actor_id:
        raise OwnRequest(f"You cannot {verb} your own {noun}: a second {checker} must.")


def require_reason(reason: str | None, text_if_missing: str = "A reason is required.") -> str:
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired(f"reason: {text_if_missing}", field_errors={"reason": text_if_missing})
    return text
