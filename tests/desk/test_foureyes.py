"""The four-eyes rule (desk.foureyes), pure: roles, reasons, maker != checker, the request's lifecycle."""

from __future__ import annotations

import pytest

from desk import foureyes
from desk.statemachine import IllegalTransition

OFFICER = "Risk officer"
RULE = foureyes.FourEyes(
    table=foureyes.request_table("Test request", approved="confirmed", expired="superseded"),
    may_request=frozenset({OFFICER}), may_decide=frozenset({OFFICER}), noun="request", checker="risk officer",
    approve_verb="confirm",
)


def test_decide_when_second_officer_approves_then_approved_status_in_the_flows_words():
    status, reason = RULE.decide(status=foureyes.PENDING, event=foureyes.APPROVE, requester_id=1, actor_id=2,
                                 roles={OFFICER}, reason=" fine ")
    assert (status, reason) == ("confirmed", "fine")


def test_decide_when_requester_approves_own_request_then_forbidden():
    with pytest.raises(foureyes.OwnRequest, match="cannot confirm your own request"):
        RULE.decide(status=foureyes.PENDING, event=foureyes.APPROVE, requester_id=1, actor_id=1, roles={OFFICER})


def test_decide_when_requester_rejects_own_request_then_rejected():
    status, _ = RULE.decide(status=foureyes.PENDING, event=foureyes.REJECT, requester_id=1, actor_id=1,
                            roles={OFFICER}, reason="withdrawn")
    assert status == foureyes.REJECTED


def test_decide_when_role_missing_then_forbidden():
    with pytest.raises(foureyes.RoleRefused):
        RULE.decide(status=foureyes.PENDING, event=foureyes.APPROVE, requester_id=1, actor_id=2, roles={"Admin"})


def test_decide_when_reject_without_reason_then_reason_required():
    with pytest.raises(foureyes.ReasonRequired) as err:
        RULE.decide(status=foureyes.PENDING, event=foureyes.REJECT, requester_id=1, actor_id=2, roles={OFFICER}, reason=" ")
    assert "reason" in err.value.field_errors


def test_decide_when_already_decided_then_refused():
    with pytest.raises(foureyes.AlreadyDecided):
        RULE.decide(status="confirmed", event=foureyes.REJECT, requester_id=1, actor_id=2, roles={OFFICER}, reason="no")


def test_request_table_when_decided_then_terminal_and_no_further_transition():
    table = RULE.table
    assert table.next_status(foureyes.PENDING, foureyes.EXPIRE) == "superseded"
    assert all(table.is_terminal(s) for s in ("confirmed", foureyes.REJECTED, "superseded"))
    with pytest.raises(IllegalTransition):
        table.next_status("confirmed", foureyes.APPROVE)


def test_request_when_no_reason_or_wrong_role_then_refused():
    assert RULE.request(roles={OFFICER}, reason=" why ", what="ask") == "why"
    with pytest.raises(foureyes.ReasonRequired):
        RULE.request(roles={OFFICER}, reason="", what="ask")
    with pytest.raises(foureyes.RoleRefused):
        RULE.request(roles={"Trader"}, reason="why", what="ask")
