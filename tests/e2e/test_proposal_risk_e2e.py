"""In the browser: a risk-parity proposal shows the risk it changes; a strategy past its deadline shows its fallback."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, stack  # noqa: E402,F401 - fixtures

pytestmark = [pytest.mark.e2e]


def _propose(core, strategy, **params):
    from execution_app.rebalance.services import proposal_create

    core.strategy, core.strategy_params = strategy, {**core.strategy_params, **params}
    core.save(update_fields=["strategy", "strategy_params"])
    return proposal_create(portfolio_id=core.pk, trigger=f"e2e {strategy}")


def test_proposal_page_when_risk_parity_then_volatility_contributions_sectors_and_record_shown(demo_small, browser, stack, shot):  # noqa: F811
    from ops_app.demo import DEMO_PORTFOLIO, demo_password
    from portfolio_app.models import Portfolio
    from execution_app.rebalance.approval import proposal_reject

    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    p = _propose(core, "risk_parity")
    assert p.status == "PENDING_APPROVAL" and p.strategy == "risk_parity", p.reason

    page = login(browser, stack, "trader", demo_password())
    page.goto(f"{stack.url}/proposals/{p.pk}/")
    page.wait_for_selector(f"[data-risk-report='{p.pk}']", timeout=20_000)
    summary = page.text_content(".risk-summary")
    assert "Ex-ante vol" in summary and "Tracking error vs SPX" in summary
    bars = page.locator(".risk-contributions .alloc-row")
    assert bars.count() == min(25, len(p.risk_report["contributions"])) > 0
    assert page.locator(".risk-contributions rect.tgt").first.get_attribute("width") not in (None, "0", "0.0")
    assert "Sector" in page.text_content("table.sectors") and "reproduce_proposal" in page.text_content(".provenance")
    path = shot(page, "proposal-risk-parity")
    assert path.stat().st_size > 10_000

    proposal_reject(proposal_id=p.pk, actor=core.traders.get(username="trader"), reason="e2e: next")
    q = _propose(core, "cla", deadline_seconds=1e-6)
    assert q.provenance["fallback"]["instead_of"] == "cla", q.reason
    page.goto(f"{stack.url}/proposals/{q.pk}/")
    page.wait_for_selector(".fallback", timeout=20_000)
    assert "did not finish within its deadline" in page.text_content(".fallback")
    shot(page, "proposal-fallback")
