"""An API client's day: signals-bot posts signals with its token, stamped with the desk's
market time, and an admin watching the Agents page sees them arrive live."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, mark_page, page_kept, shot, stack, wait_until, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]


def _call(stack, token, method, path, body=None):
    req = urllib.request.Request(  # noqa: S310 - loopback test server
        stack.url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return resp.status, json.loads(resp.read() or b"{}")


def test_api_client_day_when_bot_posts_signals_then_admin_sees_them_live_on_agents_page(demo_small, browser, stack, shot):  # noqa: F811
    from ops_app.demo import demo_password
    from signals_app.models import Signal

    admin = login(browser, stack, "admin", demo_password())
    errors = watch_console(admin)
    admin.goto(stack.url + "/agents/")
    admin.wait_for_selector("#live-indicator.on", timeout=20_000)
    mark_page(admin)
    total_cell = admin.locator('tr[data-agent-name="vendor-feed"] .signals-total')
    before = int(total_cell.text_content())

    token = demo_small.api_token
    status, clock = _call(stack, token, "GET", "/api/v1/clock/")
    assert status == 200 and clock["market_time"]
    run = uuid.uuid4().hex[:8]
    batch = [
        {"agent": "vendor-feed", "symbol": sym, "score": score, "confidence": 0.8, "horizon_days": 5,
         "generated_at": clock["market_time"], "client_signal_id": f"e2e-{run}-{sym}"}
        for sym, score in (("AAPL", 0.61), ("XOM", -0.42), ("JNJ", 0.15))
    ]
    status, body = _call(stack, token, "POST", "/api/v1/signals/", batch)
    assert status == 201, body
    assert body["created"] == 3

    # Pushed, not polled: the feed rows and the agent's counter change on the open page.
    feed = admin.locator("#signal-feed")
    wait_until(lambda: all(s in feed.text_content() for s in ("AAPL", "XOM", "JNJ")) and "-0.420" in feed.text_content(),
               timeout=20, message="the three signals in the live feed")
    wait_until(lambda: int(total_cell.text_content()) == before + 3, timeout=10, message="the agent's signal count")
    wait_until(lambda: admin.locator('#views-chart .vrow[data-symbol="AAPL"]').count() == 1, timeout=15,
               message="AAPL in the views chart")
    assert page_kept(admin), "the Agents page was reloaded; signals must arrive over the websocket"
    assert Signal.objects.filter(client_signal_id__startswith=f"e2e-{run}").count() == 3
    assert not [e for e in errors if "Content Security Policy" in e], errors
    shot(admin, "api-client-day-agents-live")

    # A retry of the same batch stores nothing new (idempotent on client_signal_id).
    status, body = _call(stack, token, "POST", "/api/v1/signals/", batch)
    assert status in (200, 201) and body["created"] == 0 and body["existing"] == 3
