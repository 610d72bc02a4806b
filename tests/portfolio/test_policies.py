"""Rebalancing policies on the market clock create proposals exactly when they should."""

from __future__ import annotations

from datetime import datetime, timezone

from django.utils import timezone as djtz

from execution_app.rebalance import approval
from execution_app.rebalance import policies
from execution_app.rebalance import services as rebalance
from orders_app import working
from portfolio_app import services
from portfolio_app.models import Portfolio, RebalanceProposal


def at(clock, day: str) -> None:
    clock.set_market_time(datetime.fromisoformat(f"{day}T15:00:00+00:00"))


def test_calendar_policy_when_month_end_then_one_proposal_and_never_twice_that_date(core, market_clock, owner):
    fired = {}
    for day in ("2022-05-26", "2022-05-27", "2022-05-31", "2022-06-01"):
        at(market_clock, day)
        fired[day] = policies.rebalance_policies_run(enqueue=False)
    assert [d for d, ids in fired.items() if ids] == ["2022-05-31"]  # 05-30 is Memorial Day
    p = RebalanceProposal.objects.get(pk=fired["2022-05-31"][0])
    assert (p.status, p.policy_date.isoformat(), p.trigger) == ("PENDING_APPROVAL", "2022-05-31", 'rebalance policy "monthly"')
    assert "last trading session of the month" in p.params["why"]

    # Closed the same day, the policy does not fire again on that date.
    approval.proposal_reject(proposal_id=p.pk, actor=owner, reason="not today")
    at(market_clock, "2022-05-31")
    assert policies.rebalance_policies_run(enqueue=False) == []


def test_on_demand_policy_when_beat_runs_then_nothing(core, market_clock):
    Portfolio.objects.filter(pk=core.pk).update(rebalance_policy={"kind": "on_demand"})
    at(market_clock, "2022-05-31")
    assert policies.rebalance_policies_run(enqueue=False) == []


def test_beat_task_when_policy_fires_then_draft_for_the_optimisation_queue(core, market_clock):
    from execution_app.tasks import rebalance_policies_run

    at(market_clock, "2022-05-31")
    rebalance_policies_run.run()
    p = RebalanceProposal.objects.get(portfolio=core)
    assert (p.status, p.policy_date.isoformat()) == ("DRAFT", "2022-05-31")
    rebalance.proposal_compute(proposal_id=p.pk)
    rebalance.proposal_compute(proposal_id=p.pk)  # a redelivered task changes nothing
    p.refresh_from_db()
    assert p.status == "PENDING_APPROVAL" and p.events.count() == 2


def _fill_everything(proposal) -> None:
    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app.models import Order
    from orders_app.services import fill_apply

    for o in Order.objects.filter(proposal=proposal, parent__isnull=True).select_related("instrument"):
        fill_apply(order_id=o.pk, report=FillReport(
            trade_id=f"T-{o.client_order_id}", client_order_id=o.client_order_id, venue="", symbol=o.instrument.symbol,
            side=Side(o.side), last_qty=o.quantity, last_px=o.arrival_px, commission=0,
            liquidity_side=LiquiditySide.TAKER, ts_event=djtz.now(),
        ))


def test_drift_policy_when_weights_within_band_then_quiet_and_beyond_then_fires(core, market_clock, owner):
    Portfolio.objects.filter(pk=core.pk).update(rebalance_policy={"kind": "drift", "band_pp": 5})
    at(market_clock, "2022-06-01")
    [first] = policies.rebalance_policies_run(enqueue=False)  # no target yet: rebalance to set one
    assert "No target weights yet" in RebalanceProposal.objects.get(pk=first).params["why"]
    p = approval.proposal_approve(proposal_id=first, actor=owner)
    _fill_everything(p)
    assert working.proposal_settle(proposal_id=p.pk).status == "COMPLETED"

    at(market_clock, "2022-06-02")  # a day's moves leave every weight well inside 5 points
    assert policies.rebalance_policies_run(enqueue=False) == []
    Portfolio.objects.filter(pk=core.pk).update(rebalance_policy={"kind": "drift", "band_pp": 0.01})
    [second] = policies.rebalance_policies_run(enqueue=False)
    assert "percentage points off its target" in RebalanceProposal.objects.get(pk=second).params["why"]
