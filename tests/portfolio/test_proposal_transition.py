import threading

import pytest
from django.db import connection

from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.services import proposal_transition
from portfolio_app.states import IllegalTransition


@pytest.fixture
def proposal(db):
    pf = Portfolio.objects.create(name="P", cash=1)
    return RebalanceProposal.objects.create(portfolio=pf, status="PENDING_APPROVAL")


def test_proposal_transition_when_approved_then_records_who_and_event(proposal, trader):
    p = proposal_transition(proposal_id=proposal.pk, to="APPROVED", actor=trader)
    assert (p.status, p.decided_by, p.decided_at is not None) == ("APPROVED", trader, True)
    assert list(p.events.values_list("from_status", "to_status", "actor__username")) == [("PENDING_APPROVAL", "APPROVED", "t1")]


def test_proposal_transition_when_stale_then_cannot_be_approved_and_unchanged(proposal, trader):
    proposal_transition(proposal_id=proposal.pk, to="STALE", reason="prices moved 3.1% beyond the 2% band")
    with pytest.raises(IllegalTransition):
        proposal_transition(proposal_id=proposal.pk, to="APPROVED", actor=trader)
    proposal.refresh_from_db()
    assert proposal.status == "STALE" and proposal.decided_by is None and proposal.events.count() == 1


@pytest.mark.django_db(transaction=True)
def test_proposal_transition_when_two_approvals_race_then_exactly_one_wins():
    pf = Portfolio.objects.create(name="P", cash=1)
    p = RebalanceProposal.objects.create(portfolio=pf, status="PENDING_APPROVAL")
    outcomes = []
    barrier = threading.Barrier(2)

    def approve():
        barrier.wait()
        try:
            proposal_transition(proposal_id=p.pk, to="APPROVED")
            outcomes.append("ok")
        except IllegalTransition:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["ok", "refused"]
    assert p.events.filter(to_status="APPROVED").count() == 1
