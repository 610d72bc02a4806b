"""Portfolio-construction fixtures: the demo book (3 years of closes) on a stepped market clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

# 2022-06-01 11:00 New York: mid-session, two and a half years of closes behind it.
MARKET_NOW = datetime(2022, 6, 1, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def market_clock():
    from desk.clock import SteppedClock
    from market_app.clock import set_clock

    clock = SteppedClock(MARKET_NOW)
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.fixture
def core(demo_small, market_clock):
    """The demo's "Core Equity": max Sharpe, weights 0-10%, monthly policy, owned by "trader"."""
    from ops_app.demo import DEMO_PORTFOLIO
    from portfolio_app.models import Portfolio

    return Portfolio.objects.get(name=DEMO_PORTFOLIO)


@pytest.fixture
def owner(core):
    return core.traders.get(username="trader")


@pytest.fixture
def pending(core):
    from execution_app.rebalance.services import proposal_create

    p = proposal_create(portfolio_id=core.pk, trigger="test")
    assert p.status == "PENDING_APPROVAL", p.reason
    return p
