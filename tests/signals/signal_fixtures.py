"""Fixtures shared by the signal and agent tests: instruments, agents through the
real services, and a hand-stepped market clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from signals_app import services as svc

# A Monday, mid-session (10:00 New York): the stepped clock's market time in these tests.
MARKET_NOW = datetime(2022, 3, 7, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def market_clock():
    from desk.clock import SteppedClock
    from market_app.clock import set_clock

    clock = SteppedClock(MARKET_NOW)
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.fixture
def instruments(db):
    """The demo's 20 stocks and its index (no prices), through the demo loader's own service."""
    from ops_app.demo import instruments_ensure

    _, ids = instruments_ensure()
    return ids


@pytest.fixture
def vendor_agent(desk_admin, api_client_user):
    return svc.agent_create(actor=desk_admin, name="vendor", type="external", owner=api_client_user, weight="2")


@pytest.fixture
def other_agent(desk_admin, make_user):
    from desk import roles

    other = make_user("bot2", roles.API_CLIENT)
    return svc.agent_create(actor=desk_admin, name="someone-else", type="external", owner=other)


def item(k: int = 0, **over):
    """One valid signal as a client sends it (JSON-ready)."""
    body = {
        "agent": "vendor", "symbol": ("AAPL", "MSFT", "XOM")[k % 3], "score": 0.5, "confidence": 0.8,
        "horizon_days": 5, "generated_at": "2022-03-07T14:30:00Z", "client_signal_id": f"s-{k}",
    }
    body.update(over)
    return body
