"""The Monitoring page's Rollouts panel and the Agents page's versions in Chromium against the real
stack. A rollout is in canary with filled orders on both sides and a promotion to full waiting;
the risk officer reads the comparison and the diff, and signs it off; an admin restores an agent's
first version. Screenshots: tests/artifacts/screenshots/monitoring-rollouts.png and agents-versions.png."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, stack, wait_until, watch_console  # noqa: E402,F401
from tests.ops.test_rollout import CANDIDATE, filled_parent, to_canary  # noqa: E402

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def rollout_in_canary(demo_small):
    """Arranged before the browser starts (ORM calls under Playwright's loop get their own connection)."""
    from django.contrib.auth import get_user_model

    from market_app.models import Instrument
    from ops_app.rollout import stages
    from portfolio_app.models import Portfolio
    from signals_app import services as signal_services
    from signals_app.models import Agent

    users = {u.username: u for u in get_user_model().objects.all()}
    first = Portfolio.objects.order_by("pk").first()
    second = Portfolio.objects.create(name="Satellite Book", cash="2000000.00", strategy=first.strategy,
                                      strategy_params=first.strategy_params, constraints=first.constraints)
    rollout = stages.rollout_create(actor=users["admin"], name="Min-vol, shorter lookback",
                                    portfolio_ids=[first.pk, second.pk], candidate=CANDIDATE,
                                    reason="lower realised vol in backtests", min_sample=3, min_window_minutes=0,
                                    shadow_now=False)
    to_canary(users["admin"], users["risk2"], rollout, [second])
    aapl = Instrument.objects.get(symbol="AAPL")
    for k in range(4):
        filled_parent(first, aapl, f"e2e-i{k}", arrival="150", px="150.03", qty=10)
        filled_parent(second, aapl, f"e2e-c{k}", arrival="150", px="150.12", qty=10)
    stages.rollout_promotion_request(actor=users["admin"], rollout_id=rollout.pk, reason="canary within limits")
    agent = Agent.objects.order_by("pk").first()
    signal_services.agent_update(actor=users["admin"], agent_id=agent.pk, weight="2.5", reason="more weight after review")
    return rollout, agent


def test_rollouts_panel_when_canary_waits_for_sign_off_then_risk_officer_reads_comparison_diff_and_signs_off(
    rollout_in_canary, browser, stack, shot  # noqa: F811
):
    from ops_app.demo import demo_password

    rollout, agent = rollout_in_canary
    page = login(browser, stack, "risk", demo_password())
    errors = watch_console(page)
    page.goto(stack.url + "/monitoring/")
    card = page.locator(f'#rollouts article[data-rollout="{rollout.pk}"]')
    card.scroll_into_view_if_needed()
    assert card.get_attribute("data-stage") == "canary"
    assert "sample ready" in card.inner_text()
    slip = card.locator('tr[data-metric="slippage_bps"] td').all_inner_texts()
    assert slip[1:] == ["8.0", "2.0", "6.0"], slip
    assert "strategy" in card.locator("table.diff").inner_text() and "min_volatility" in card.locator("table.diff").inner_text()
    assert "Waiting for a risk officer" in card.inner_text()
    card.screenshot(path=str(_shots_dir() / "monitoring-rollouts.png"))
    shot(page, "monitoring-rollouts-page")

    card.locator('.pending-promotion button[value="approve"]').click()
    page.wait_for_url(stack.url + "/monitoring/")
    card = page.locator(f'#rollouts article[data-rollout="{rollout.pk}"]')
    assert card.get_attribute("data-stage") == "full"
    assert "full approved by risk" in card.inner_text()

    admin = login(browser, stack, "admin", demo_password())
    admin.goto(stack.url + "/agents/")
    versions = admin.locator(f'#agent-versions details[data-agent="{agent.pk}"]')
    if versions.get_attribute("open") is None:
        versions.locator("summary").click()
    assert "more weight after review" in versions.inner_text()
    versions.locator('tr[data-version="1"] input[name="reason"]').fill("weight back to 1")
    versions.locator('tr[data-version="1"] button').click()
    admin.wait_for_url(stack.url + "/agents/")
    versions = admin.locator(f'#agent-versions details[data-agent="{agent.pk}"]')
    if versions.get_attribute("open") is None:
        versions.locator("summary").click()
    wait_until(lambda: "restored version 1: weight back to 1" in versions.inner_text(), timeout=10,
               message="the restore as the newest version")
    versions.scroll_into_view_if_needed()
    versions.screenshot(path=str(_shots_dir() / "agents-versions.png"))
    admin.screenshot(path=str(_shots_dir() / "agents-versions-page.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors


def _shots_dir():
    from tests.e2e.conftest import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
