"""Versioned strategy and agent configurations, and the gradual rollout (shadow -> canary -> full)
on the real database: versions with who, when, why and the diff; restore in one action; four-eyes
promotion; the canary's comparison; the automatic rollback when a rollout rule fires."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tests.helpers import error_fields

pytestmark = pytest.mark.django_db
SHARPE = {"strategy": "max_sharpe", "strategy_params": {"lookback_days": 252}, "constraints": {}}
CANDIDATE = {"strategy": "min_volatility", "strategy_params": {"lookback_days": 126}}


@pytest.fixture
def books(db, trader):
    from portfolio_app.models import Portfolio

    out = []
    for name in ("Canary Book", "Incumbent Book"):
        p = Portfolio.objects.create(name=name, cash="1000000.00", **SHARPE)
        p.traders.add(trader)
        out.append(p)
    return out


@pytest.fixture
def acme(db):
    from market_app.models import Instrument

    return Instrument.objects.create(symbol="ACME", sector="Industrials", adv=1_000_000)


def _officer_and_admin(make_user):
    from django.contrib.auth.models import Group

    from desk import roles

    both = make_user("ra1", roles.ADMIN)
    both.groups.add(Group.objects.get(name=roles.RISK_OFFICER))
    return both


def filled_parent(portfolio, instrument, coid: str, *, arrival: str, px: str, side: str = "BUY", qty: int = 100):
    """A parent order worked and filled through the order services, at ``px`` against ``arrival``."""
    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app import services

    order, _ = services.order_create(client_order_id=coid, portfolio_id=portfolio.pk, instrument_id=instrument.pk,
                                     side=side, quantity=D(qty), arrival_px=D(arrival))
    services.order_apply_event(order_id=order.pk, event="SUBMITTED")
    services.order_apply_event(order_id=order.pk, event="ACCEPTED")
    services.fill_apply(order_id=order.pk, report=FillReport(
        f"{coid}-t", coid, "", instrument.symbol, Side(side), D(qty), D(px), D("0"), LiquiditySide.TAKER,
        datetime.now(UTC)))
    return order


def to_canary(admin, officer, rollout, canary):
    from ops_app.rollout import stages

    promo = stages.rollout_promotion_request(actor=admin, rollout_id=rollout.pk, reason="shadow looked fine",
                                             canary_ids=[p.pk for p in canary])
    return stages.rollout_promotion_decide(actor=officer, promotion_id=promo.pk, approve=True)


# --- Versions -------------------------------------------------------------------------------------


def test_strategy_update_when_changed_twice_then_versions_with_who_why_and_diff(desk_admin, books):
    from portfolio_app.strategy_versions import strategy_update, strategy_versions

    book = books[0]
    strategy_update(actor=desk_admin, portfolio_id=book.pk, reason="shorter memory", strategy_params={"lookback_days": 126})
    strategy_update(actor=desk_admin, portfolio_id=book.pk, reason="try min vol", strategy="min_volatility")

    v3, v2, v1 = strategy_versions(book.pk)
    assert (v1.number, v1.actor, v1.config) == (1, None, SHARPE)
    assert (v2.actor, v2.reason, v2.diff) == (desk_admin, "shorter memory",
                                              [{"path": "strategy_params.lookback_days", "before": 252, "after": 126}])
    assert v3.diff == [{"path": "strategy", "before": "max_sharpe", "after": "min_volatility"}]
    book.refresh_from_db()
    assert (book.strategy, book.strategy_params) == ("min_volatility", {"lookback_days": 126})


def test_strategy_version_restore_when_version_one_then_current_again_and_restore_is_a_version(api_for, desk_admin, books):
    book = books[0]
    api = api_for(desk_admin)
    r = api.patch(f"/api/v1/portfolios/{book.pk}/strategy/", {"strategy": "min_volatility", "reason": "test"}, format="json")
    assert r.status_code == 200, r.json()

    r = api.post(f"/api/v1/portfolios/{book.pk}/strategy/versions/1/restore/", {"reason": "back to Sharpe"}, format="json")

    assert r.status_code == 200, r.json()
    newest = r.json()[0]
    assert (newest["number"], newest["restored_from"], newest["actor"]) == (3, 1, desk_admin.username)
    assert newest["reason"] == "restored version 1: back to Sharpe"
    assert newest["diff"] == [{"path": "strategy", "before": "min_volatility", "after": "max_sharpe"}]
    book.refresh_from_db()
    assert book.strategy == "max_sharpe"


@pytest.mark.parametrize("body, field", [
    ({"strategy_params": {"lookback_days": 126}}, "reason"),
    ({"strategy": "astrology", "reason": "x"}, "strategy"),
    ({"constraints": {"weight_bounds": [-0.5, 1]}, "reason": "x"}, "constraints.weight_bounds"),
    ({"strategy_params": {"lookback_days": "abc"}, "reason": "x"}, "strategy_params"),
    ({"strategy_params": {"nonsense": 1}, "reason": "x"}, "strategy_params.nonsense"),
])
def test_strategy_update_when_bad_input_then_400_names_the_field_and_nothing_saved(api_for, desk_admin, books, body, field):
    from portfolio_app.models import StrategyVersion

    r = api_for(desk_admin).patch(f"/api/v1/portfolios/{books[0].pk}/strategy/", body, format="json")

    assert r.status_code == 400 and error_fields(r) == {field}, r.json()
    assert not StrategyVersion.objects.exists()
    books[0].refresh_from_db()
    assert books[0].strategy == "max_sharpe"


def test_strategy_restore_when_trader_then_403_and_when_no_such_version_then_400(api_for, desk_admin, trader, books):
    assert api_for(trader).post(f"/api/v1/portfolios/{books[0].pk}/strategy/versions/1/restore/", {}, format="json").status_code == 403
    r = api_for(desk_admin).post(f"/api/v1/portfolios/{books[0].pk}/strategy/versions/7/restore/", {}, format="json")
    assert r.status_code == 400 and error_fields(r) == {"number"}


def test_agent_update_when_config_changed_then_version_recorded_and_restore_brings_it_back(api_for, desk_admin):
    api = api_for(desk_admin)
    agent = api.post("/api/v1/agents/", {"name": "mom", "type": "momentum", "config": {"lookback": 120}},
                     format="json").json()
    r = api.patch(f"/api/v1/agents/{agent['id']}/", {"config": {"lookback": 60}, "weight": "2", "reason": "faster"},
                  format="json")
    assert r.status_code == 200, r.json()

    versions = api.get(f"/api/v1/agents/{agent['id']}/versions/").json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["reason"] == "faster" and versions[0]["actor"] == desk_admin.username
    assert {d["path"]: (d["before"], d["after"]) for d in versions[0]["diff"]} == {
        "config.lookback": (120, 60), "weight": ("1.0000", "2.0000")}

    r = api.post(f"/api/v1/agents/{agent['id']}/versions/1/restore/", {"reason": "too noisy"}, format="json")

    assert r.status_code == 200 and r.json()["config"]["lookback"] == 120 and r.json()["weight"] == "1.0000"
    newest = api.get(f"/api/v1/agents/{agent['id']}/versions/").json()[0]
    assert (newest["number"], newest["restored_from"], newest["reason"]) == (3, 1, "restored version 1: too noisy")
    from signals_app.models import Agent
    assert Agent.objects.get(pk=agent["id"]).history.first().history_change_reason == "restored version 1: too noisy"


# --- Rollout: create, promotion (four eyes) ---------------------------------------------------------


def test_rollout_create_when_bad_input_then_400_names_the_field(api_for, desk_admin, books):
    api = api_for(desk_admin)
    ok = {"name": "MinVol", "portfolios": [b.pk for b in books], "candidate": CANDIDATE, "reason": "lower vol"}
    for body, field in [
        ({**ok, "portfolios": [999999]}, "portfolios"),
        ({**ok, "candidate": {"strategy": "astrology"}}, "candidate.strategy"),
        ({**ok, "reason": ""}, "reason"),
        ({**ok, "min_sample": 0}, "min_sample"),
    ]:
        r = api.post("/api/v1/rollouts/", body, format="json")
        assert r.status_code == 400 and error_fields(r) == {field}, (field, r.json())
    from ops_app.models import Rollout
    assert not Rollout.objects.exists()


def test_rollout_promotion_when_requester_signs_off_then_refused_and_second_officer_moves_it_to_canary(
        api_for, make_user, desk_admin, risk_officer, trader, books):
    from ops_app.models import Rollout
    from portfolio_app.models import StrategyVersion

    both = _officer_and_admin(make_user)
    r = api_for(both).post("/api/v1/rollouts/", {"name": "MinVol", "portfolios": [b.pk for b in books],
                                                 "candidate": CANDIDATE, "reason": "lower vol"}, format="json")
    assert r.status_code == 201, r.json()
    rid = r.json()["id"]
    assert r.json()["stage"] == "shadow"
    assert api_for(trader).post(f"/api/v1/rollouts/{rid}/promotions/", {"reason": "go"}, format="json").status_code == 403
    r = api_for(both).post(f"/api/v1/rollouts/{rid}/promotions/", {"reason": "go", "canary": []}, format="json")
    assert r.status_code == 400 and error_fields(r) == {"canary"}
    promo = api_for(both).post(f"/api/v1/rollouts/{rid}/promotions/", {"reason": "shadow fine", "canary": [books[0].pk]},
                               format="json").json()

    own = api_for(both).post(f"/api/v1/rollouts/promotions/{promo['id']}/approve/", {}, format="json")
    assert own.status_code == 403 and "own" in own.json()["message"]
    assert Rollout.objects.get(pk=rid).stage == "shadow"

    r = api_for(risk_officer).post(f"/api/v1/rollouts/promotions/{promo['id']}/approve/", {"reason": "ok"}, format="json")

    assert r.status_code == 200 and r.json()["status"] == "approved"
    body = api_for(trader).get(f"/api/v1/rollouts/{rid}/").json()
    assert (body["stage"], body["canary"]) == ("canary", [books[0].pk])
    assert body["incumbent_versions"] == {str(books[0].pk): 1}
    canary_v = StrategyVersion.objects.get(portfolio=books[0], number=2)
    assert (canary_v.rollout_id, canary_v.actor, canary_v.config["strategy"]) == (rid, risk_officer, "min_volatility")
    books[1].refresh_from_db()
    assert books[1].strategy == "max_sharpe"  # the incumbent is untouched
    assert body["diffs"][0]["diff"][0] == {"path": "strategy", "before": "max_sharpe", "after": "min_volatility"}


def test_rollout_promotion_when_full_approved_then_every_portfolio_on_candidate(desk_admin, risk_officer, books):
    from ops_app.rollout import stages

    rollout = stages.rollout_create(actor=desk_admin, name="MinVol", portfolio_ids=[b.pk for b in books],
                                    candidate=CANDIDATE, reason="lower vol", shadow_now=False)
    to_canary(desk_admin, risk_officer, rollout, books[:1])
    promo = stages.rollout_promotion_request(actor=desk_admin, rollout_id=rollout.pk, reason="canary fine")

    stages.rollout_promotion_decide(actor=risk_officer, promotion_id=promo.pk, approve=True)

    rollout.refresh_from_db()
    assert rollout.stage == "full" and rollout.incumbent_versions == {str(books[0].pk): 1, str(books[1].pk): 1}
    for b in books:
        b.refresh_from_db()
        assert b.strategy == "min_volatility"


# --- Comparison and the automatic rollback ----------------------------------------------------------


def test_compare_when_pure_inputs_then_slippage_reject_rate_and_tracking_error():
    from ops_app.rollout.compare import group_stats_of, tracking_error_bps

    s = group_stats_of([1], [("FILLED", "BUY", D(100), D("100.5"), D("100")), ("FILLED", "SELL", D(100), D("99"), D("100")),
                             ("REJECTED", "BUY", D(0), None, D("100"))], breaches=1, sessions=[])
    assert (s.orders, s.rejected, s.filled) == (3, 1, 2)
    assert s.slippage_bps == pytest.approx(75.0) and s.reject_rate == pytest.approx(1 / 3)
    assert tracking_error_bps([100, 101, 102], [100, 100, 100]) is not None
    assert tracking_error_bps([100, 101], [100, 100]) is None
    assert tracking_error_bps([100, 101, 102.01], [100, 101, 102.01]) == 0.0


def _slippage_rule(threshold=25.0):
    from ops_app.models import AlertRule

    return AlertRule.objects.update_or_create(name="Canary slippage", defaults={
        "kind": AlertRule.Kind.ROLLOUT_SLIPPAGE, "threshold": threshold, "severity": "critical"})[0]


def test_rollout_rule_when_canary_sample_too_small_then_silent_and_rollout_stays(desk_admin, risk_officer, books, acme):
    from ops_app.alert_rules.rules import alert_rules_evaluate
    from ops_app.rollout import stages

    rule = _slippage_rule()
    rollout = stages.rollout_create(actor=desk_admin, name="MinVol", portfolio_ids=[b.pk for b in books],
                                    candidate=CANDIDATE, reason="lower vol", min_sample=3, min_window_minutes=0,
                                    shadow_now=False)
    to_canary(desk_admin, risk_officer, rollout, books[:1])
    filled_parent(books[0], acme, "c1", arrival="100", px="101")  # 100 bps worse, but one order of three

    assert alert_rules_evaluate(kinds=[rule.kind])[rule.name] == 0
    rollout.refresh_from_db()
    assert rollout.stage == "canary"


def test_rollout_rule_when_canary_slippage_spikes_then_rolled_back_alerted_pending_expired_orders_kept(
        desk_admin, risk_officer, books, acme):
    from ops_app.alert_rules.rules import alert_rules_evaluate
    from ops_app.rollout import stages
    from orders_app.models import Order
    from orders_app.services import order_create
    from portfolio_app.models import RebalanceProposal, StrategyVersion
    from risk_app.models import Alert

    rule = _slippage_rule(threshold=25)
    rollout = stages.rollout_create(actor=desk_admin, name="MinVol", portfolio_ids=[b.pk for b in books],
                                    candidate=CANDIDATE, reason="lower vol", min_sample=3, min_window_minutes=0,
                                    shadow_now=False)
    to_canary(desk_admin, risk_officer, rollout, books[:1])
    pending = RebalanceProposal.objects.create(portfolio=books[0], status="PENDING_APPROVAL", strategy="min_volatility")
    for k in range(3):
        filled_parent(books[1], acme, f"i{k}", arrival="100", px="100.02")  # the incumbent: 2 bps
        filled_parent(books[0], acme, f"c{k}", arrival="100", px="100.80")  # the canary: 80 bps
    working, _ = order_create(
        client_order_id="c-working", portfolio_id=books[0].pk, instrument_id=acme.pk, side="BUY", quantity=D(5))

    out = alert_rules_evaluate(kinds=[rule.kind])

    assert out[rule.name] == 1
    rollout.refresh_from_db()
    assert rollout.stage == "rolled_back" and rollout.ended_by is None
    assert "canary slippage 80.0 bps" in rollout.ended_reason and "incumbent's 2.0 bps" in rollout.ended_reason
    books[0].refresh_from_db()
    assert books[0].strategy == "max_sharpe"
    back = StrategyVersion.objects.filter(portfolio=books[0]).order_by("-number").first()
    assert (back.number, back.restored_from, back.rollout_id) == (3, 1, rollout.pk)
    alert = Alert.objects.get(key=f"rollout:{rollout.pk}:rolled_back")
    assert alert.status == "active" and alert.severity == "critical"
    assert "rolled back automatically from canary" in alert.message and "80.0 bps" in alert.message
    pending.refresh_from_db()
    assert pending.status == "EXPIRED"
    assert Order.objects.get(pk=working.pk).status == "INITIALIZED"  # working orders go on under the gate
    # The next evaluation finds no canary: nothing more happens, the rollback alert stays.
    alert_rules_evaluate(kinds=[rule.kind])
    assert Alert.objects.get(key=f"rollout:{rollout.pk}:rolled_back").status == "active"


def test_rollout_rollback_when_by_hand_then_trader_refused_and_officer_restores(api_for, desk_admin, risk_officer, trader, books):
    from ops_app.rollout import stages

    rollout = stages.rollout_create(actor=desk_admin, name="MinVol", portfolio_ids=[b.pk for b in books],
                                    candidate=CANDIDATE, reason="lower vol", shadow_now=False)
    to_canary(desk_admin, risk_officer, rollout, books[:1])
    assert api_for(trader).post(f"/api/v1/rollouts/{rollout.pk}/rollback/", {"reason": "no"}, format="json").status_code == 403
    r = api_for(risk_officer).post(f"/api/v1/rollouts/{rollout.pk}/rollback/", {"reason": ""}, format="json")
    assert r.status_code == 400 and error_fields(r) == {"reason"}

    r = api_for(risk_officer).post(f"/api/v1/rollouts/{rollout.pk}/rollback/", {"reason": "desk call"}, format="json")

    assert r.status_code == 200 and r.json()["stage"] == "rolled_back"
    books[0].refresh_from_db()
    assert books[0].strategy == "max_sharpe"
    again = api_for(risk_officer).post(f"/api/v1/rollouts/{rollout.pk}/rollback/", {"reason": "again"}, format="json")
    assert again.status_code == 409


def test_rollout_shadow_compute_when_in_shadow_then_candidate_recorded_per_portfolio_and_nothing_proposed(
        demo_small, market_clock):
    from django.contrib.auth import get_user_model

    from ops_app.demo import DEMO_PORTFOLIO
    from ops_app.rollout import stages
    from portfolio_app.models import Portfolio, RebalanceProposal

    admin = get_user_model().objects.get(username="admin")
    core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
    before = (core.strategy, core.strategy_params, RebalanceProposal.objects.count())
    rollout = stages.rollout_create(actor=admin, name="MinVol", portfolio_ids=[core.pk], reason="lower vol",
                                    candidate={"strategy": "min_volatility"}, shadow_now=False)

    [run] = stages.rollout_shadow_compute(rollout_id=rollout.pk)

    assert run.error == "" and run.portfolio == core and run.target_weights
    assert abs(sum(run.target_weights.values()) - 1) < 0.02 and run.turnover is not None
    core.refresh_from_db()
    assert (core.strategy, core.strategy_params, RebalanceProposal.objects.count()) == before
