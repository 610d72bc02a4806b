"""Signals pushed live to the browser, and the Agents page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from config.asgi import application
from desk import groups
from signals_app import services as svc
from tests.signals.signal_fixtures import (  # noqa: F401 - fixtures
    instruments,
    item,
    market_clock,
    other_agent,
    vendor_agent,
)


async def _connect_as(user):
    @sync_to_async
    def cookie():
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    comm = WebsocketCommunicator(
        application, "/ws/desk/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={await cookie()}".encode())],
    )
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    return comm, hello


async def _next_of_type(comm, event_type, timeout=5.0):
    while True:
        msg = await comm.receive_json_from(timeout=timeout)
        if msg["type"] == event_type:
            return msg


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_post_signals_when_admin_watching_then_one_signal_received_event_per_batch(
    desk_admin, api_client_user, api_for, vendor_agent, instruments, market_clock
):
    comm, hello = await _connect_as(desk_admin)
    assert groups.SIGNALS in hello["groups"]
    bot = await sync_to_async(api_for)(api_client_user)

    response = await sync_to_async(bot.post)(
        "/api/v1/signals/", [item(0, score=-0.25), item(1)], format="json"
    )

    assert response.status_code == 201
    msg = await _next_of_type(comm, "signal.received")
    assert msg["group"] == groups.SIGNALS
    # One summary per batch; a conflating publisher wraps summaries as {"items": [...]}.
    batches = msg["data"].get("items", [msg["data"]])
    assert len(batches) == 1
    summary = batches[0]
    assert summary["count"] == 2
    assert summary["agents"] == [{"id": vendor_agent.id, "name": "vendor", "count": 2}]
    assert {(s["symbol"], s["score"]) for s in summary["latest"]} == {("AAPL", "-0.25000"), ("MSFT", "0.50000")}
    # A refused batch and an idempotent retry push nothing.
    assert (await sync_to_async(bot.post)("/api/v1/signals/", [item(5, score=9)], format="json")).status_code == 400
    assert (await sync_to_async(bot.post)("/api/v1/signals/", [item(0)], format="json")).status_code == 200
    # (No beat runs in this test, so nothing else is pushed to the admin meanwhile.)
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


# ---------------------------------------------------------------------------
# The Agents page


@pytest.mark.django_db
def test_agents_page_when_trader_then_agents_signals_and_views_without_edit_forms(
    trader, api_for, api_client_user, vendor_agent, instruments, market_clock
):
    api_for(api_client_user).post("/api/v1/signals/", [item(0, score=0.6), item(1, score=-0.4)], format="json")
    client = Client()
    client.force_login(trader)

    response = client.get(reverse("agents"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-agent-name="vendor"' in html
    assert 'data-symbol="AAPL" data-score="0.6"' in html and 'data-symbol="MSFT" data-score="-0.4' in html
    assert "agent-form-" not in html
    assert "js/agents.js" in html and "<script>" not in html


@pytest.mark.django_db
def test_edit_agent_when_admin_posts_weight_and_disables_then_saved(desk_admin, vendor_agent, market_clock):
    client = Client()
    client.force_login(desk_admin)

    response = client.post(reverse("agent-edit", args=[vendor_agent.id]), {"weight": "0.5"})

    assert response.status_code == 302
    vendor_agent.refresh_from_db()
    assert vendor_agent.weight == Decimal("0.5") and vendor_agent.enabled is False
    assert "agent-form-" in client.get(reverse("agents")).content.decode()


@pytest.mark.django_db
def test_edit_agent_when_weight_invalid_then_400_with_error_next_to_field_and_unchanged(desk_admin, vendor_agent, market_clock):
    client = Client()
    client.force_login(desk_admin)

    response = client.post(reverse("agent-edit", args=[vendor_agent.id]), {"weight": "-2", "enabled": "on"})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-field="weight"' in html and "must be a number from 0" in html and 'value="-2"' in html
    vendor_agent.refresh_from_db()
    assert vendor_agent.weight == Decimal("2")


@pytest.mark.django_db
def test_edit_agent_when_trader_posts_then_403(trader, vendor_agent):
    client = Client()
    client.force_login(trader)

    assert client.post(reverse("agent-edit", args=[vendor_agent.id]), {"weight": "5", "enabled": "on"}).status_code == 403
    vendor_agent.refresh_from_db()
    assert vendor_agent.weight == Decimal("2")


@pytest.mark.django_db
def test_edit_agent_when_csrf_token_missing_then_403(desk_admin, vendor_agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(desk_admin)

    assert client.post(reverse("agent-edit", args=[vendor_agent.id]), {"weight": "5"}).status_code == 403


@pytest.mark.django_db
def test_demo_agents_when_hook_runs_twice_then_four_agents_and_vendor_owned_by_signals_bot(demo_small):
    from signals_app.models import Agent

    svc.demo_agents(portfolio=None, users={})

    agents = {a.name: a for a in Agent.objects.select_related("owner")}
    assert set(agents) == {"momentum", "mean_reversion", "trend", "vendor-feed"}
    assert agents["vendor-feed"].owner.username == "signals-bot" and agents["vendor-feed"].type == "external"
    assert agents["momentum"].owner is None
