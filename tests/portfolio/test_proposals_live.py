"""End to end with a real Celery worker: request → optimisation queue → PENDING_APPROVAL pushed."""

from __future__ import annotations

import time

import pytest

from desk import groups
from portfolio_app.models import RebalanceProposal


def listen(group: str):
    from tests.layer_inbox import SyncInbox

    return SyncInbox(group).get


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_proposal_when_requested_then_real_worker_computes_and_pushes_pending(demo_small, market_clock, celery_worker_live, api_for):
    from ops_app.demo import DEMO_PORTFOLIO
    from portfolio_app.models import Portfolio

    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    receive = listen(groups.portfolio(core.pk))
    r = api_for(core.traders.get(username="trader")).post(f"/api/v1/portfolios/{core.pk}/proposals/")
    assert r.status_code == 202
    pid = r.json()["id"]
    seen, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = receive(2)
        if msg and msg["type"] == "proposal.updated" and msg["data"]["id"] == pid:
            seen.append(msg["data"]["status"])
            if msg["data"]["status"] != "DRAFT":
                break
    assert seen[-1] == "PENDING_APPROVAL", seen
    p = RebalanceProposal.objects.get(pk=pid)
    assert p.status == "PENDING_APPROVAL" and p.trades.exists()
