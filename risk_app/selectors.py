"""Risk reads."""

from __future__ import annotations

from execution_app.interfaces import TradingState
from risk_app.models import TradingStateRecord


def desk_trading_state() -> str:
    row = TradingStateRecord.objects.filter(scope="desk").only("state").first()
    return row.state if row else TradingState.ACTIVE.value
