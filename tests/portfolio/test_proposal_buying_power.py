"""Proposals and buying power (issue 17): a rebalance is sized so that what its orders will reserve
at approval - market orders at the collar price, the dearest fee, prices anywhere in the stale band -
fits the cash account, so approving it never has its buys denied for lack of cash."""

from __future__ import annotations

from decimal import Decimal

from execution_app.rebalance import approval
from orders_app.models import Order


def test_proposal_approve_when_the_demo_book_is_all_cash_then_no_buy_is_denied_for_buying_power(pending, owner, core):
    assert pending.trades.filter(side="BUY").count() > 5
    assert not [t for t in pending.trades.all() if not (t.risk or {}).get("passed", True)]  # the what-if agrees

    p = approval.proposal_approve(proposal_id=pending.pk, actor=owner)

    orders = list(Order.objects.filter(proposal=p, parent__isnull=True))
    assert not [o.reason for o in orders if o.status == "DENIED"]
    core.refresh_from_db()
    reserved = sum((o.reserved_cash for o in orders), Decimal(0))
    assert Decimal(0) < reserved <= core.cash


def test_proposal_plan_when_cash_account_then_buys_leave_room_for_the_collar_and_the_fees(pending, core):
    from desk.money import cash

    buys = sum((cash(t.quantity * t.price) for t in pending.trades.filter(side="BUY")), Decimal(0))
    # 5% collar and a 2% stale band above the proposal's prices: the buys come to about 93% of the cash.
    assert Decimal("0.90") * core.cash < buys < core.cash / (Decimal("1.05") * Decimal("1.02"))
