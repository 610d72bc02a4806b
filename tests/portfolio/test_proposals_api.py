"""The proposal and portfolio API, and the pages, as each role sees them."""

from __future__ import annotations

from tests.helpers import error_fields

import threading

import pytest
from django.db import connection

from desk import roles
from orders_app.models import Order
from portfolio_app.models import RebalanceProposal


def test_request_when_owner_then_202_with_id_and_again_the_same_open_one(core, owner, api_for):
    api = api_for(owner)
    first = api.post(f"/api/v1/portfolios/{core.pk}/proposals/")
    assert first.status_code == 202 and first.json()["created"] is True
    assert RebalanceProposal.objects.get(pk=first.json()["id"]).status == "DRAFT"  # the optimisation task computes it
    second = api.post(f"/api/v1/portfolios/{core.pk}/proposals/")
    assert second.status_code == 202 and second.json() == {**first.json(), "created": False}


@pytest.mark.parametrize("who", ["risk_officer", "other_trader"])
def test_request_when_not_an_owning_trader_then_403(core, who, request, make_user, api_for):
    actor = make_user("t9", roles.TRADER) if who == "other_trader" else request.getfixturevalue(who)
    assert api_for(actor).post(f"/api/v1/portfolios/{core.pk}/proposals/").status_code == 403
    assert not RebalanceProposal.objects.exists()


def test_approve_when_owner_then_200_executing_and_a_second_approval_409(pending, owner, api_for):
    api = api_for(owner)
    r = api.post(f"/api/v1/proposals/{pending.pk}/approve/")
    assert r.status_code == 200 and r.json()["status"] == "EXECUTING" and r.json()["decided_by"] == "trader"
    n = Order.objects.filter(proposal=pending).count()
    again = api.post(f"/api/v1/proposals/{pending.pk}/approve/")
    assert again.status_code == 409 and "EXECUTING" in again.json()["message"] and again.json()["code"] == "conflict"
    assert Order.objects.filter(proposal=pending).count() == n


@pytest.mark.parametrize("who", ["risk_officer", "other_trader", "api_client_user"])
def test_approve_and_reject_when_not_an_owning_trader_then_403_and_nothing_changed(pending, who, request, make_user, api_for):
    actor = make_user("t9", roles.TRADER) if who == "other_trader" else request.getfixturevalue(who)
    api = api_for(actor)
    assert api.post(f"/api/v1/proposals/{pending.pk}/approve/").status_code == 403
    assert api.post(f"/api/v1/proposals/{pending.pk}/reject/", {"reason": "x"}, format="json").status_code == 403
    pending.refresh_from_db()
    assert pending.status == "PENDING_APPROVAL" and not Order.objects.filter(proposal=pending).exists()


def test_reject_when_no_reason_then_400_naming_reason_then_200_with_one(pending, owner, api_for):
    api = api_for(owner)
    for body in ({}, {"reason": "  "}):
        r = api.post(f"/api/v1/proposals/{pending.pk}/reject/", body, format="json")
        assert r.status_code == 400 and "reason" in error_fields(r)
    r = api.post(f"/api/v1/proposals/{pending.pk}/reject/", {"reason": "Too much turnover."}, format="json")
    assert r.status_code == 200 and (r.json()["status"], r.json()["reason"]) == ("REJECTED", "Too much turnover.")
    assert api.post(f"/api/v1/proposals/{pending.pk}/approve/").status_code == 409


def test_list_and_detail_when_visible_then_trades_metrics_and_verdict(pending, owner, risk_officer, make_user, api_for):
    rows = api_for(owner).get("/api/v1/proposals/?status=pending_approval").json()
    assert [r["id"] for r in rows] == [pending.pk]
    detail = api_for(risk_officer).get(f"/api/v1/proposals/{pending.pk}/").json()
    assert detail["trades"] and {"symbol", "side", "quantity", "price", "notional", "risk"} <= set(detail["trades"][0])
    assert detail["metrics_after"]["sharpe"] > 0 and detail["risk_verdict"]["passed"] is True
    stranger = api_for(make_user("t9", roles.TRADER))
    assert stranger.get("/api/v1/proposals/").json() == []
    assert stranger.get(f"/api/v1/proposals/{pending.pk}/").status_code == 404


def test_portfolio_detail_and_frontier_when_owner_then_positions_and_points(pending, core, owner, api_for):
    api = api_for(owner)
    body = api.get(f"/api/v1/portfolios/{core.pk}/").json()
    assert body["nav"] == body["cash"] == "10000000.00" and body["positions"] == [] and body["open_proposal_id"] == pending.pk
    f = api.get(f"/api/v1/portfolios/{core.pk}/frontier/?points=8").json()
    assert f["error"] is None and len(f["points"]) >= 5 and f["proposal_id"] == pending.pk
    vols = [p["volatility"] for p in f["points"]]
    assert vols == sorted(vols) and f["current"]["volatility"] == 0.0 and f["proposed"]["volatility"] > 0


@pytest.mark.django_db(transaction=True)
def test_approve_when_two_race_on_postgresql_then_one_200_one_409(demo_small, market_clock, api_for):
    if connection.vendor != "postgresql":
        pytest.skip("row locks serialise only on PostgreSQL; SQLite locks the whole database")
    from ops_app.demo import DEMO_PORTFOLIO
    from portfolio_app.models import Portfolio
    from execution_app.rebalance.services import proposal_create

    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    owner = core.traders.get(username="trader")
    p = proposal_create(portfolio_id=core.pk, trigger="race")
    clients = [api_for(owner), api_for(owner)]
    barrier = threading.Barrier(2)
    codes = []

    def approve(client):
        barrier.wait()
        try:
            codes.append(client.post(f"/api/v1/proposals/{p.pk}/approve/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(codes) == [200, 409]
    assert p.events.filter(to_status="APPROVED").count() == 1
    assert Order.objects.filter(proposal=p, parent__isnull=True).count() == p.trades.count()


# --- Pages -----------------------------------------------------------------------------


def _login(client, user):
    client.force_login(user)
    return client


def test_proposals_page_when_owner_then_buttons_and_when_risk_officer_then_none(pending, owner, risk_officer, client):
    html = _login(client, owner).get("/proposals/").content.decode()
    assert f"Proposal #{pending.pk}" in html and 'data-action="approve"' in html and 'data-action="reject"' in html
    assert "Exp. ret" in html and "Weight now → target" in html and "<script>" not in html
    client.logout()
    html = _login(client, risk_officer).get("/proposals/").content.decode()
    assert f"Proposal #{pending.pk}" in html and 'data-action="approve"' not in html


def test_proposal_page_when_stale_then_says_so_and_offers_a_fresh_one(pending, owner, client):
    from portfolio_app.services import proposal_transition

    proposal_transition(proposal_id=pending.pk, to="STALE", reason="AAPL moved 3.0% since the proposal was computed.")
    html = _login(client, owner).get(f"/proposals/{pending.pk}/").content.decode()
    assert "Stale" in html and "Request a fresh one" in html and 'data-action="approve"' not in html


def test_portfolio_page_when_owner_then_positions_allocation_and_frontier_svg(pending, owner, client):
    html = _login(client, owner).get("/portfolio/").content.decode()
    assert "Efficient frontier" in html and "<polyline" in html and "marker-proposed" in html and "marker-current" in html
    assert "Allocation" in html and "<script>" not in html


def test_approve_when_the_requester_approves_own_request_then_403_and_a_second_trader_may(core, api_for, market_clock):
    from execution_app.rebalance.services import proposal_compute, proposal_request
    from portfolio_app.models import RebalanceProposal

    maker, checker = core.traders.get(username="trader"), core.traders.get(username="trader2")
    p, _ = proposal_request(portfolio_id=core.pk, trigger="on demand", actor=maker, enqueue=False)
    p = proposal_compute(proposal_id=p.pk)
    assert p.status == "PENDING_APPROVAL", p.reason
    own = api_for(maker).post(f"/api/v1/proposals/{p.pk}/approve/")
    assert own.status_code == 403 and "second trader" in own.json()["message"]
    assert RebalanceProposal.objects.get(pk=p.pk).status == "PENDING_APPROVAL"
    assert api_for(checker).post(f"/api/v1/proposals/{p.pk}/approve/").status_code == 200


def test_approve_when_a_policy_requested_it_then_any_trader_of_the_portfolio_may(pending, api_for, core):
    assert pending.created_by_id is None  # asked for by the desk itself
    assert api_for(core.traders.get(username="trader")).post(f"/api/v1/proposals/{pending.pk}/approve/").status_code == 200
