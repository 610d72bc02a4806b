"""Proposals through the real services on the demo data: compute, fail, expire, go stale, decide."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders_app.models import Order
from execution_app.rebalance import approval
from execution_app.rebalance import services as rebalance
from orders_app import working
from portfolio_app import services
from portfolio_app.models import Portfolio, RebalanceProposal


def test_proposal_create_when_demo_book_then_pending_with_lot_trades_metrics_and_verdict(core):
    before = timezone.now()
    p = rebalance.proposal_create(portfolio_id=core.pk, trigger="test")

    assert p.status == "PENDING_APPROVAL"
    trades = list(p.trades.select_related("instrument"))
    assert trades and all(t.quantity == t.quantity.to_integral_value() and t.quantity > 0 for t in trades)
    spent = sum((t.notional for t in trades if t.side == "BUY"), Decimal(0)) - sum((t.notional for t in trades if t.side == "SELL"), Decimal(0))
    assert core.cash - spent - p.estimated_costs >= 0  # cash never negative
    assert all(w <= 0.10 + 1e-6 for w in p.target_weights.values())  # the demo's 10% cap
    assert set(p.metrics_after) == {"expected_return", "volatility", "sharpe"} and p.metrics_after["volatility"] > 0
    assert p.metrics_before["volatility"] == 0.0  # all cash before
    assert 0.9 < float(p.turnover) <= 1.0
    assert p.risk_verdict["passed"] is True and all("passed" in t.risk for t in trades)
    assert set(p.reference_prices) == {t.instrument.symbol for t in trades}
    assert before + timedelta(minutes=29) < p.expires_at < timezone.now() + timedelta(minutes=31)
    assert list(p.events.values_list("to_status", flat=True)) == ["DRAFT", "PENDING_APPROVAL"]


def test_proposal_create_when_shadow_mode_then_shadow_and_never_actionable(core, owner):
    Portfolio.objects.filter(pk=core.pk).update(mode="shadow")
    p = rebalance.proposal_create(portfolio_id=core.pk, trigger="test")
    assert (p.status, p.expires_at) == ("SHADOW", None) and p.trades.exists()
    with pytest.raises(services.ProposalNotActionable):
        approval.proposal_approve(proposal_id=p.pk, actor=owner)
    assert not Order.objects.filter(proposal=p).exists()
    # SHADOW is terminal: it does not hold the portfolio's one open slot.
    assert rebalance.proposal_create(portfolio_id=core.pk, trigger="again").pk != p.pk


def test_proposal_request_when_one_is_pending_then_the_same_one_is_returned(pending, core):
    again, created = rebalance.proposal_request(portfolio_id=core.pk, trigger="second", enqueue=False)
    assert (again.pk, created) == (pending.pk, False)
    assert rebalance.proposal_create(portfolio_id=core.pk, trigger="third").pk == pending.pk
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database refuses a second open one
        RebalanceProposal.objects.create(portfolio=core, status="DRAFT")


def test_proposal_create_when_constraints_infeasible_then_failed_with_a_sentence(core):
    Portfolio.objects.filter(pk=core.pk).update(constraints={"weight_bounds": [0.0, 0.03]})  # 20 x 3% < 100%
    p = rebalance.proposal_create(portfolio_id=core.pk, trigger="test")
    assert (p.status, p.failure_code) == ("FAILED", "infeasible")
    assert p.reason.endswith(".") and "Traceback" not in p.reason and len(p.reason.split()) > 5
    assert not p.trades.exists()
    # FAILED closes it: the next request computes afresh.
    assert rebalance.proposal_create(portfolio_id=core.pk, trigger="again").pk != p.pk


def test_proposal_create_when_too_few_prices_then_failed_too_few_prices(core, market_clock):
    from datetime import datetime, timezone as tz

    market_clock.set_market_time(datetime(2020, 1, 14, 15, 0, tzinfo=tz.utc))  # 8 sessions of history
    p = rebalance.proposal_create(portfolio_id=core.pk, trigger="test")
    assert (p.status, p.failure_code) == ("FAILED", "too_few_prices")
    assert "price" in p.reason.lower()


def test_proposal_create_when_config_invalid_then_failed_naming_the_key(core):
    Portfolio.objects.filter(pk=core.pk).update(strategy_params={"risk_model": "astrology"})
    p = rebalance.proposal_create(portfolio_id=core.pk, trigger="test")
    assert (p.status, p.failure_code) == ("FAILED", "config") and "risk_model" in p.reason


def test_proposal_refresh_when_past_expiry_then_expired_and_a_fresh_one_can_follow(pending, core, owner):
    counts = services.proposals_expire(now=pending.expires_at + timedelta(seconds=1))
    pending.refresh_from_db()
    assert (pending.status, counts["expired"]) == ("EXPIRED", 1)
    assert "30 minutes" in pending.reason
    with pytest.raises(services.ProposalNotActionable):
        approval.proposal_approve(proposal_id=pending.pk, actor=owner)
    assert rebalance.proposal_create(portfolio_id=core.pk, trigger="fresh").status == "PENDING_APPROVAL"


def test_proposal_approve_when_marks_moved_beyond_band_then_stale_and_nothing_ordered(pending, owner):
    moved = {s: str(Decimal(px) * Decimal("1.05")) for s, px in pending.reference_prices.items()}
    RebalanceProposal.objects.filter(pk=pending.pk).update(reference_prices=moved)
    with pytest.raises(services.ProposalNotActionable, match="STALE"):
        approval.proposal_approve(proposal_id=pending.pk, actor=owner)
    pending.refresh_from_db()
    assert pending.status == "STALE" and "2% band" in pending.reason and "request a fresh one" in pending.reason
    assert not Order.objects.filter(proposal=pending).exists()


def test_proposal_refresh_when_marks_within_band_then_still_pending(pending):
    assert services.proposal_refresh(proposal_id=pending.pk).status == "PENDING_APPROVAL"


def test_proposal_approve_when_owner_then_orders_created_and_executing(pending, owner):
    p = approval.proposal_approve(proposal_id=pending.pk, actor=owner)
    assert p.status == "EXECUTING" and p.decided_by == owner and p.decided_at is not None
    orders = Order.objects.filter(proposal=p, parent__isnull=True).select_related("instrument")
    assert {o.client_order_id for o in orders} == {f"P{p.pk}-{t.instrument.symbol}" for t in p.trades.select_related("instrument")}
    assert all(o.algo == "TWAP" and o.status in ("SUBMITTED", "ACCEPTED", "DENIED") for o in orders)
    assert list(p.events.values_list("to_status", flat=True))[-2:] == ["APPROVED", "EXECUTING"]
    with pytest.raises(services.ProposalNotActionable):  # a second approval changes nothing
        approval.proposal_approve(proposal_id=p.pk, actor=owner)
    assert Order.objects.filter(proposal=p, parent__isnull=True).count() == orders.count()


@pytest.mark.parametrize("who", ["risk_officer", "other_trader", "desk_admin"])
def test_proposal_approve_when_not_an_owning_trader_then_forbidden_and_nothing_changed(pending, who, request, make_user):
    from desk import roles

    actor = make_user("t9", roles.TRADER) if who == "other_trader" else request.getfixturevalue(who)
    with pytest.raises(services.ProposalForbidden):
        approval.proposal_approve(proposal_id=pending.pk, actor=actor)
    with pytest.raises(services.ProposalForbidden):
        approval.proposal_reject(proposal_id=pending.pk, actor=actor, reason="no")
    pending.refresh_from_db()
    assert pending.status == "PENDING_APPROVAL" and pending.decided_by is None
    assert not Order.objects.filter(proposal=pending).exists() and pending.events.count() == 2


def test_proposal_reject_when_no_reason_then_refused_and_with_reason_then_rejected(pending, owner):
    with pytest.raises(services.ReasonRequired):
        approval.proposal_reject(proposal_id=pending.pk, actor=owner, reason="   ")
    p = approval.proposal_reject(proposal_id=pending.pk, actor=owner, reason="Turnover too high today.")
    assert (p.status, p.reason, p.decided_by) == ("REJECTED", "Turnover too high today.", owner)


def test_proposal_settle_when_all_orders_terminal_then_completed_with_filled_share(pending, owner):
    from orders_app.services import order_apply_event

    p = approval.proposal_approve(proposal_id=pending.pk, actor=owner)
    for o in Order.objects.filter(proposal=p, parent__isnull=True).exclude(status__in=["DENIED", "CANCELED", "FILLED"]):
        o.refresh_from_db()
        if o.status in ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED"):
            order_apply_event(order_id=o.pk, event="CANCELED", reason="test")
    p = working.proposal_settle(proposal_id=p.pk)
    assert p.status == "COMPLETED" and p.filled_share == Decimal(0)


def test_proposals_expire_when_draft_lost_then_failed_with_a_sentence(core):
    p, created = rebalance.proposal_request(portfolio_id=core.pk, trigger="lost", enqueue=False)
    later = timezone.now() + timedelta(minutes=10)
    assert services.proposals_expire(now=later)["lost"] == 1
    p.refresh_from_db()
    assert (p.status, p.failure_code) == ("FAILED", "lost") and "Request a fresh one" in p.reason


@pytest.fixture
def tasks_sent(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr("desk.tasks.enqueue", lambda name, args=(), kwargs=None, **options: sent.append((name, kwargs)))
    return sent


def _move_beyond_band(p):
    moved = {s: str(Decimal(px) * Decimal("1.05")) for s, px in p.reference_prices.items()}
    RebalanceProposal.objects.filter(pk=p.pk).update(reference_prices=moved)


def test_proposals_expire_when_a_desk_requested_proposal_goes_stale_then_the_desk_asks_for_a_fresh_one(
        pending, core, tasks_sent, django_capture_on_commit_callbacks):
    _move_beyond_band(pending)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.proposals_expire()

    assert counts["stale"] == 1 and RebalanceProposal.objects.get(pk=pending.pk).status == "STALE"
    assert tasks_sent == [("execution_app.tasks.proposal_compute",
                           {"portfolio_id": core.pk, "trigger": f"fresh after proposal #{pending.pk} went stale"})]
    fresh = rebalance.proposal_create(portfolio_id=core.pk, trigger=tasks_sent[0][1]["trigger"])  # what the task runs
    assert fresh.pk != pending.pk and fresh.status == "PENDING_APPROVAL" and fresh.created_by is None


def test_proposals_expire_when_a_traders_own_request_goes_stale_then_left_for_the_trader_to_repeat(
        pending, owner, tasks_sent, django_capture_on_commit_callbacks):
    RebalanceProposal.objects.filter(pk=pending.pk).update(created_by=owner)
    _move_beyond_band(pending)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.proposals_expire()

    assert counts["stale"] == 1 and tasks_sent == []
