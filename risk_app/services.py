"""Risk services: the pre-trade check seam every order passes through.

``pre_trade_check`` is what orders and proposals call; the risk issue fills it
with the limit engine (``risk_app.checks``). Callers hold the portfolio row lock
(``select_for_update``) so concurrent orders cannot jointly breach a limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from execution_app.interfaces import LimitBreach, OrderIntent, RiskVerdict, Side, TradingState


def _state_verdict(state: str, intent: OrderIntent, position_qty) -> RiskVerdict:
    if state == TradingState.HALTED.value:
        return RiskVerdict(False, (LimitBreach(None, "Trading state", "trading_state", "block", 0, 1, "Trading is HALTED: no order may pass."),))
    if state == TradingState.REDUCING.value:
        signed = intent.quantity if intent.side is Side.BUY else -intent.quantity
        after = position_qty + signed
        if abs(after) >= abs(position_qty):
            return RiskVerdict(False, (LimitBreach(None, "Trading state", "trading_state", "block", 0, 1,
                                                   f"Trading is REDUCING: only orders that shrink the {intent.symbol} position may pass."),))
    return RiskVerdict.ok()


def pre_trade_check(*, portfolio_id: int, intents: Sequence[OrderIntent], wall_clock: bool = True) -> list[RiskVerdict]:
    """One verdict per intent, in order. The caller must hold the portfolio row lock."""
    from portfolio_app.models import Position
    from risk_app.models import TradingStateRecord

    states = dict(TradingStateRecord.objects.filter(scope__in=["desk", f"portfolio:{portfolio_id}"]).values_list("scope", "state"))
    desk, own = states.get("desk", "ACTIVE"), states.get(f"portfolio:{portfolio_id}", "ACTIVE")
    worst = max((desk, own), key=["ACTIVE", "REDUCING", "HALTED"].index)
    positions = dict(Position.objects.filter(portfolio_id=portfolio_id).values_list("instrument__symbol", "quantity"))
    from decimal import Decimal

    return [_state_verdict(worst, i, positions.get(i.symbol, Decimal(0))) for i in intents]
