"""The order state machine: every legal transition works, every illegal one is refused."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.interfaces import OrderStatus as S
from orders_app import states
from orders_app.states import ORDER_TABLE, IllegalTransition, order_next

ALL = [s.value for s in S]
Q = Decimal(100)


def legal_pairs():
    for status, events in ORDER_TABLE.table.items():
        for event in events:
            yield status, event


@pytest.mark.parametrize(("status", "event"), list(legal_pairs()))
def test_order_next_when_transition_in_table_then_allowed(status, event):
    previous = S.ACCEPTED.value if status in (S.PENDING_UPDATE.value, S.PENDING_CANCEL.value) else ""
    new, _ = order_next(status, event, previous=previous, filled_qty=Decimal(40), quantity=Q)
    assert new in ALL


@pytest.mark.parametrize(("status", "event"), [(s, e) for s in ALL for e in states.EVENTS if e not in ORDER_TABLE.table.get(s, {})])
def test_order_next_when_transition_not_in_table_then_refused(status, event):
    with pytest.raises(IllegalTransition):
        order_next(status, event, previous=S.ACCEPTED.value, filled_qty=Decimal(40), quantity=Q)


@pytest.mark.parametrize("terminal", ["DENIED", "REJECTED", "CANCELED", "EXPIRED", "FILLED"])
def test_order_next_when_terminal_then_every_event_refused(terminal):
    for event in states.EVENTS:
        with pytest.raises(IllegalTransition):
            order_next(terminal, event, filled_qty=Q, quantity=Q)


def test_fill_when_partial_then_partially_filled_and_when_complete_then_filled():
    assert order_next("ACCEPTED", "FILLED", filled_qty=Decimal(40), quantity=Q)[0] == "PARTIALLY_FILLED"
    assert order_next("PARTIALLY_FILLED", "FILLED", filled_qty=Q, quantity=Q)[0] == "FILLED"


def test_fill_when_overfilling_then_refused():
    with pytest.raises(IllegalTransition):
        order_next("ACCEPTED", "FILLED", filled_qty=Decimal(101), quantity=Q)


def test_pending_update_when_updated_then_back_to_where_it_was():
    status, prev = order_next("PARTIALLY_FILLED", "PENDING_UPDATE")
    assert (status, prev) == ("PENDING_UPDATE", "PARTIALLY_FILLED")
    assert order_next(status, "UPDATED", previous=prev)[0] == "PARTIALLY_FILLED"


def test_pending_cancel_when_cancel_rejected_then_back_to_accepted():
    status, prev = order_next("ACCEPTED", "PENDING_CANCEL")
    assert order_next(status, "CANCEL_REJECTED", previous=prev)[0] == "ACCEPTED"


def test_pending_cancel_when_partial_fill_races_then_still_pending_and_returns_partially_filled():
    status, prev = order_next("ACCEPTED", "PENDING_CANCEL")
    status, prev = order_next(status, "FILLED", previous=prev, filled_qty=Decimal(10), quantity=Q)
    assert status == "PENDING_CANCEL"
    assert order_next(status, "CANCEL_REJECTED", previous=prev)[0] == "PARTIALLY_FILLED"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(states.EVENTS), st.integers(min_value=1, max_value=60)), max_size=30))
def test_order_next_when_any_sequence_of_events_then_never_an_illegal_state(events):
    status, previous, filled = "INITIALIZED", "", Decimal(0)
    for event, qty in events:
        attempt = filled + qty if event == "FILLED" else filled
        try:
            new, new_prev = order_next(status, event, previous=previous, filled_qty=attempt, quantity=Q)
        except IllegalTransition:
            continue
        filled = attempt
        assert new in ALL
        assert not states.is_terminal(status), "left a terminal state"
        if new in ("PENDING_UPDATE", "PENDING_CANCEL"):
            assert new_prev in ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED")
        if new == "FILLED":
            assert filled == Q
        if new == "PARTIALLY_FILLED":
            assert 0 < filled < Q
        status, previous = new, new_prev
    assert filled <= Q
