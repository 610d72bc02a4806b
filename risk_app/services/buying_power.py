"""The buying-power rule proposal construction sizes a cash account's buys by (``portfolio_app.trades``)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings

from desk.interfaces import OrderIntent, Side
from portfolio_app.account import ReserveRule

from .pretrade import engine_get


def proposal_reserve_rule(*, portfolio_id: int, symbols: Iterable[str]) -> ReserveRule:
    """The rule a proposal's buys are sized by (``portfolio_app.trades``): what the gate will reserve
    for its market orders at approval - the collar that applies to each symbol, the dearest fee - with
    prices anywhere within the stale band (``DESK_PROPOSAL_STALE_BAND_PCT``) of the proposal's."""
    from orders_app.reservations import fee_schedule

    engine, default = engine_get(), float(settings.DESK_RESERVE_COLLAR_PCT)
    collars = {s: engine.reserve_collar_pct(OrderIntent(portfolio_id, s, Side.BUY, Decimal(1)), default) for s in symbols}
    return ReserveRule(fees=fee_schedule(), default_collar_pct=default, collar_pct=collars,
                       band_pct=float(settings.DESK_PROPOSAL_STALE_BAND_PCT))
