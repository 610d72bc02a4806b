"""The Overview after ``load_demo`` with its history: the book's P&L and targets, working orders, today's
NAV line, and what each user can do next (the browser's side is tests/e2e/test_first_run_e2e.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ops_app import demo

# 2022-01-03 10:15 New York: 45 minutes into the replay's first session (the opening proposal is
# computed at 09:30; later, a 2% move of one of its stocks makes it stale).
MARKET_NOW = datetime(2022, 1, 3, 15, 15, tzinfo=timezone.utc)


@pytest.fixture
def demo_history(db):
    from desk.clock import SteppedClock
    from market_app.clock import set_clock

    frames = demo.price_frames()
    original = demo.price_frames
    demo.price_frames = lambda: (frames[0].loc["2019-01-01":], frames[1].loc["2019-01-01":])
    try:
        loaded = demo.demo_load(history=True)
    finally:
        demo.price_frames = original
    set_clock(SteppedClock(MARKET_NOW))
    yield loaded
    set_clock(None)


def _user(name):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=name)


def test_overview_state_when_demo_has_history_then_positions_carry_pnl_targets_and_today_line(demo_history):
    from execution_app.overview import INTRADAY_STEP_MINUTES, overview_state
    from portfolio_app.models import Portfolio

    core = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
    s = overview_state(core, market_now=MARKET_NOW, user=_user("trader"))

    assert s.pnl_today is not None and s.pnl_today != 0  # against the 2021-12-31 close snapshot
    assert str(s.prev_session) == "2021-12-31"
    assert any(r.realised_pnl != 0 for r in s.book.positions) and any(r.unrealised_pnl != 0 for r in s.book.positions)
    lines = s.position_lines
    assert lines and all(target is not None for _, target, _ in lines)  # the pending proposal's targets
    for row, target, gap in lines:
        assert gap == pytest.approx(target - row.weight, abs=0.0005)
    assert len(s.chart["equity"]) == demo.HISTORY_SESSIONS + 1
    # From 09:30 every 15 minutes (09:30, 09:45, 10:00; 10:15 is now) and now.
    points = s.intraday["points"]
    assert len(points) == 45 // INTRADAY_STEP_MINUTES + 1
    assert points[-1][1] == float(s.book.nav)
    assert s.intraday["prev_nav"] == float(s.prev_nav)
    assert s.working == []


def test_overview_next_steps_when_each_role_looks_then_each_is_told_its_own_next_step(demo_history, client):
    from risk_app.models import RiskLimit
    from risk_app.services import limit_update

    p = demo_history.proposal_id
    # Both traders may decide the desk's proposal: no trader asked for it.
    for trader in ("trader", "trader2"):
        client.force_login(_user(trader))
        page = client.get("/").content.decode()
        assert f"Proposal #{p} waits for your decision" in page, trader
        assert f'href="/proposals/{p}/"' in page

    limit = RiskLimit.objects.get(name__startswith="Max order notional")
    limit_update(limit_id=limit.pk, actor=_user("risk2"), reason="quarter end", threshold="3000000")
    client.force_login(_user("risk"))
    page = client.get("/").content.decode()
    assert "1 limit change by another officer waits for your second pair of eyes" in page
    assert "waits for your decision" not in page
    client.force_login(_user("risk2"))  # their own request: nothing for them to approve
    assert "second pair of eyes" not in client.get("/").content.decode()

    client.force_login(_user("admin"))
    page = client.get("/").content.decode()
    assert "Open Venues" in page and "waits for your decision" not in page and "second pair of eyes" not in page

    # Later that morning a stock of the proposal has moved beyond the band: the trader is told to ask again.
    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from portfolio_app.services import proposal_refresh

    later = datetime(2022, 1, 3, 16, 0, tzinfo=timezone.utc)
    set_clock(SteppedClock(later))
    assert proposal_refresh(proposal_id=p, market_now=later).status == "STALE"
    client.force_login(_user("trader"))
    page = client.get("/").content.decode()
    assert f"Proposal #{p} is STALE" in page and "Request a rebalance" in page
    assert "waits for your decision" not in page


def test_overview_working_orders_when_proposal_approved_then_open_parents_show_with_progress(demo_history, client):
    from execution_app.overview import overview_state
    from execution_app.rebalance.approval import proposal_approve
    from orders_app.models import Order
    from portfolio_app.models import Portfolio

    proposal_approve(proposal_id=demo_history.proposal_id, actor=_user("trader2"))
    core = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
    s = overview_state(core, market_now=MARKET_NOW, user=_user("trader"))
    open_parents = Order.objects.filter(proposal_id=demo_history.proposal_id, parent__isnull=True,
                                        status__in=("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED"))
    assert {w.id for w in s.working} == set(open_parents.values_list("pk", flat=True)) != set()
    assert all(0.0 <= w.progress <= 1.0 for w in s.working)
    assert not any("waits for your decision" in n.text for n in s.next_steps)
    assert any("working" in n.text for n in s.next_steps)
