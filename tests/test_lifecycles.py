"""Each desk lifecycle's status changes only through its state machine, and its status sets come from its table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.lifecycle import StatusWriteRefused


def test_status_sets_when_derived_then_open_is_every_status_but_the_terminal_ones():
    from desk.interfaces import OrderStatus, ProposalStatus
    from orders_app.states import OPEN_STATUSES, ORDER_TABLE, TERMINAL_STATUSES
    from portfolio_app.states import OPEN_PROPOSAL_STATUSES, PROPOSAL_TABLE

    assert set(ORDER_TABLE.statuses) == {s.value for s in OrderStatus}
    assert set(OPEN_STATUSES) | set(TERMINAL_STATUSES) == set(ORDER_TABLE.statuses)
    assert not set(OPEN_STATUSES) & set(TERMINAL_STATUSES)
    assert set(OPEN_STATUSES) == {"INITIALIZED", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL"}
    assert set(PROPOSAL_TABLE.statuses) == {s.value for s in ProposalStatus}
    assert OPEN_PROPOSAL_STATUSES == ("DRAFT", "PENDING_APPROVAL", "APPROVED", "EXECUTING")


@pytest.fixture
def order(demo_small):
    from market_app.models import Instrument
    from orders_app.services import order_create
    from portfolio_app.models import Portfolio

    o, _ = order_create(client_order_id="guard-1", portfolio_id=Portfolio.objects.first().pk,
                        instrument_id=Instrument.objects.get(symbol="AAPL").pk, side="BUY", quantity=Decimal(10))
    return o


def test_order_when_status_written_directly_then_refused_and_through_its_machine_then_applied(order):
    from orders_app.models import Order
    from orders_app.services import order_apply_event

    order.status = "FILLED"
    with pytest.raises(StatusWriteRefused):
        order.save()
    with pytest.raises(StatusWriteRefused):
        Order.objects.filter(pk=order.pk).update(status="FILLED")
    order.refresh_from_db()
    assert order.status == "INITIALIZED"
    order.reason = "a field that is not the status saves as before"
    order.save(update_fields=["reason"])
    assert order_apply_event(order_id=order.pk, event="DENIED", reason="test").status == "DENIED"


def test_proposal_when_status_written_directly_then_refused(demo_small):
    from portfolio_app.models import Portfolio, RebalanceProposal

    p = RebalanceProposal.objects.create(portfolio=Portfolio.objects.first(), status="DRAFT", strategy="max_sharpe")
    with pytest.raises(StatusWriteRefused):
        RebalanceProposal.objects.filter(pk=p.pk).update(status="APPROVED")
    p = RebalanceProposal.objects.get(pk=p.pk)
    p.status = "COMPLETED"
    with pytest.raises(StatusWriteRefused):
        p.save(update_fields=["status"])


@pytest.mark.django_db
def test_scenario_run_when_status_written_directly_then_refused_and_its_machine_moves_it():
    from desk.lifecycle import apply_transition
    from desk.statemachine import IllegalTransition
    from execution_app.models import ScenarioRun
    from execution_app.scenarios.lifecycle import FINISH, SCENARIO_RUN_TABLE, START

    run = ScenarioRun.objects.create(strategy="equal_weight")
    with pytest.raises(StatusWriteRefused):
        ScenarioRun.objects.filter(pk=run.pk).update(status="done")
    with pytest.raises(IllegalTransition):
        apply_transition(run, SCENARIO_RUN_TABLE, FINISH)  # a queued run has not run
    apply_transition(run, SCENARIO_RUN_TABLE, START)
    apply_transition(run, SCENARIO_RUN_TABLE, FINISH)
    run.refresh_from_db()
    assert run.status == "done"
    with pytest.raises(IllegalTransition):
        apply_transition(run, SCENARIO_RUN_TABLE, START)  # done is final


@pytest.mark.django_db
def test_alert_delivery_when_status_written_directly_then_refused():
    from ops_app.models import AlertDelivery
    from risk_app.models import Alert

    alert = Alert.objects.create(kind="limit", key="guard", message="m", severity="warning")
    d = AlertDelivery.objects.create(alert=alert, state="raised", url="http://127.0.0.1:9/", idempotency_key="guard-raised")
    with pytest.raises(StatusWriteRefused):
        AlertDelivery.objects.filter(pk=d.pk).update(status="delivered")
    d.status = "delivered"
    with pytest.raises(StatusWriteRefused):
        d.save()
