import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk.interfaces import ProposalStatus as S
from portfolio_app.states import PROPOSAL_TABLE, IllegalTransition, proposal_next

ALL = [s.value for s in S]


@pytest.mark.parametrize(("status", "to"), [(s, t) for s, ts in PROPOSAL_TABLE.table.items() for t in ts])
def test_proposal_next_when_legal_then_moves(status, to):
    assert proposal_next(status, to) == to


@pytest.mark.parametrize(("status", "to"), [(s, t) for s in ALL for t in ALL if t not in PROPOSAL_TABLE.table.get(s, {})])
def test_proposal_next_when_illegal_then_refused(status, to):
    with pytest.raises(IllegalTransition):
        proposal_next(status, to)


def test_proposal_when_stale_or_shadow_then_never_approvable():
    for status in ("STALE", "SHADOW", "EXPIRED", "REJECTED"):
        with pytest.raises(IllegalTransition):
            proposal_next(status, "APPROVED")


@given(st.lists(st.sampled_from(ALL), max_size=20))
def test_proposal_when_any_sequence_then_terminal_states_absorb(seq):
    status = "DRAFT"
    for to in seq:
        try:
            new = proposal_next(status, to)
        except IllegalTransition:
            continue
        assert not PROPOSAL_TABLE.is_terminal(status)
        status = new
