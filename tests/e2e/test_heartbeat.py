import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import PASSWORD, login, wait_until

pytestmark = [pytest.mark.e2e]


def test_overview_when_trader_logs_in_then_heartbeat_arrives_over_websocket(browser, stack, shot):
    from desk import roles
    from ops_app.accounts import desk_user_create
    from portfolio_app.models import Portfolio

    trader, _, _ = desk_user_create(username="trader", role=roles.TRADER, password=PASSWORD)
    Portfolio.objects.create(name="Core Equity", cash="10000000.00").traders.add(trader)

    page = login(browser, stack, "trader")
    page.wait_for_selector("#live-indicator.on", timeout=20_000)
    wait_until(lambda: int(page.text_content("#heartbeat-count") or 0) >= 2, timeout=30, message="two heartbeats")
    assert page.text_content("#heartbeat-worker").strip() not in ("", "—")
    assert "Core Equity" in page.text_content("main")
    shot(page, "overview-heartbeat")
