"""A trader's decision on a proposal: approve (creates and submits the parent orders) or reject.

Re-exported by ``portfolio_app.services``; import from there. Locking order is the
orders app's: portfolio row → proposal row → order rows, so approval, fills and
pre-trade checks of one portfolio serialise and cannot deadlock.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from execution_app.interfaces import OrderStatus, ProposalStatus
from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.selectors import may_decide

S = ProposalStatus


def _svc():
    # services re-exports this module's functions, so it is imported late here.
    from portfolio_app import services

    return services


def _authorise(p: RebalanceProposal, actor, verb: str) -> None:
    if actor is None or not may_decide(actor, p.portfolio):
        raise _svc().ProposalForbidden(f"Only a trader who owns {p.portfolio.name} may {verb} its proposals.")


def _not_actionable(p: RebalanceProposal, verb: str):
    why = f" ({p.reason})" if p.reason else ""
    return _svc().ProposalNotActionable(f"Proposal #{p.pk} is {p.status}{why}; it can no longer be {verb}.")


def _orders_create(p: RebalanceProposal, actor) -> list:
    from orders_app.services import order_create

    from portfolio_app.construction import desk_params

    desk = desk_params(p.portfolio)
    orders = []
    for row in p.trades.select_related("instrument"):
        order, _ = order_create(
            client_order_id=f"P{p.pk}-{row.instrument.symbol}",
            portfolio_id=p.portfolio_id,
            instrument_id=row.instrument_id,
            side=row.side,
            quantity=row.quantity,
            algo=desk["algo"],
            algo_params=desk["algo_params"],
            proposal_id=p.pk,
            arrival_px=row.price,
            created_by=actor,
        )
        orders.append(order)
    return orders


def _orders_submit(orders, actor, portfolio_id: int) -> None:
    """``orders_app.services.order_submit`` per order; until it exists, the same steps here."""
    from orders_app import services as order_services

    submit = getattr(order_services, "order_submit", None)
    if submit is not None:
        for o in orders:
            submit(order_id=o.pk, actor=actor)
        return
    from django.utils import timezone

    from execution_app.interfaces import OrderIntent, Side
    from risk_app.services import pre_trade_check

    intents = [
        OrderIntent(portfolio_id=portfolio_id, symbol=o.instrument.symbol, side=Side(o.side), quantity=o.quantity,
                    reference_price=o.arrival_px, client_order_id=o.client_order_id, ts=timezone.now())
        for o in orders
    ]
    verdicts = pre_trade_check(portfolio_id=portfolio_id, intents=intents) if intents else []
    for o, v in zip(orders, verdicts):
        if v.passed:
            order_services.order_apply_event(order_id=o.pk, event="SUBMITTED", actor=actor, sent_at=timezone.now())
            try:
                from orders_app.dispatch import route_after_commit
            except ImportError:  # pragma: no cover
                continue
            route_after_commit(o.pk)
        else:
            order_services.order_apply_event(order_id=o.pk, event="DENIED", actor=actor, reason="; ".join(v.reasons))


def proposal_approve(*, proposal_id: int, actor) -> RebalanceProposal:
    """PENDING_APPROVAL → APPROVED → EXECUTING, with one parent order per trade, submitted.

    Only a Trader who owns the portfolio (``ProposalForbidden``). An expired or stale
    proposal is closed first and refused (``ProposalNotActionable``). Locks the portfolio
    row, then the proposal's: of two concurrent approvals the second finds it decided and
    gets ``IllegalTransition``, changing nothing. Each order passes the pre-trade checks
    again at this moment (limits may have changed): SUBMITTED, or DENIED with reasons.
    """
    svc = _svc()
    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    _authorise(p, actor, "approve")
    p = svc.proposal_refresh(proposal_id=p.pk)
    if p.status != S.PENDING_APPROVAL.value:
        raise _not_actionable(p, "approved")
    with transaction.atomic():
        Portfolio.objects.select_for_update().get(pk=p.portfolio_id)
        p = svc.proposal_transition(proposal_id=p.pk, to=S.APPROVED.value, actor=actor)
        orders = _orders_create(p, actor)
        p = svc.proposal_transition(proposal_id=p.pk, to=S.EXECUTING.value, actor=actor)
        _orders_submit(orders, actor, p.portfolio_id)
        return proposal_complete_if_done(proposal_id=p.pk)


def proposal_reject(*, proposal_id: int, actor, reason: str) -> RebalanceProposal:
    """PENDING_APPROVAL → REJECTED with the trader's reason (required)."""
    svc = _svc()
    reason = (reason or "").strip()
    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    _authorise(p, actor, "reject")
    if not reason:
        raise svc.ReasonRequired("A rejection needs a reason.")
    try:
        return svc.proposal_transition(proposal_id=p.pk, to=S.REJECTED.value, actor=actor, reason=reason)
    except svc.IllegalTransition:
        raise _not_actionable(RebalanceProposal.objects.get(pk=p.pk), "rejected") from None


TERMINAL_ORDER = frozenset(
    {OrderStatus.DENIED.value, OrderStatus.REJECTED.value, OrderStatus.CANCELED.value, OrderStatus.EXPIRED.value,
     OrderStatus.FILLED.value}
)


def proposal_complete_if_done(*, proposal_id: int) -> RebalanceProposal:
    """EXECUTING (or APPROVED) → COMPLETED once every parent order is terminal, recording the filled share.

    The filled share is filled notional over ordered notional at the proposal's prices
    (1 for a proposal with nothing to trade). Safe to call any number of times.
    """
    from orders_app.models import Order

    svc = _svc()
    p = RebalanceProposal.objects.get(pk=proposal_id)
    if p.status not in (S.APPROVED.value, S.EXECUTING.value):
        return p
    parents = list(Order.objects.filter(proposal_id=p.pk, parent__isnull=True).values_list("status", "quantity", "filled_qty", "arrival_px"))
    if any(status not in TERMINAL_ORDER for status, *_ in parents):
        return p
    ordered = sum((q * (px or 1) for _, q, _, px in parents), Decimal(0))
    filled = sum((f * (px or 1) for _, _, f, px in parents), Decimal(0))
    share = (filled / ordered).quantize(Decimal("0.000001")) if ordered else Decimal(1)
    try:
        return svc.proposal_transition(proposal_id=p.pk, to=S.COMPLETED.value, filled_share=share)
    except svc.IllegalTransition:
        return RebalanceProposal.objects.get(pk=proposal_id)
