"""Seed tests of issue 4: signals in through the API, views out; a plugin agent type end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from signals_app import services as svc
from tests.signals.signal_fixtures import (  # noqa: F401 - fixtures
    MARKET_NOW,
    instruments,
    item,
    market_clock,
    vendor_agent,
)

PLUGIN_DIR = Path(__file__).parent / "plugin_pkg"


@pytest.fixture
def plugin_installed(monkeypatch):
    """The test plugin package on the path: its ``execdesk.agents`` entry point advertises ``last_move``."""
    from signals_app.agents import reload_agent_types

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    reload_agent_types()
    yield
    reload_agent_types()
    sys.modules.pop("execdesk_demo_plugin", None)


@pytest.mark.django_db
class TestSignalAggregationIntegration:
    def test_existing_aggregation_flow(self, api_for, desk_admin, api_client_user, make_user, vendor_agent, instruments, market_clock):
        # Arrange: two API clients' agents; vendor weighs 2, quant 1; the desk's half-life is 5 days.
        from desk import roles

        quant_bot = make_user("quant-bot", roles.API_CLIENT)
        svc.agent_create(actor=desk_admin, name="quant", type="external", owner=quant_bot, weight="1")
        vendor = api_for(api_client_user)
        quant = api_for(quant_bot)

        # Act: signals in through the API
        r1 = vendor.post("/api/v1/signals/", [
            item(0, symbol="AAPL", score=0.5, confidence=0.8, generated_at="2022-03-07T15:00:00Z", horizon_days=5),
            item(1, symbol="MSFT", score=1.0, confidence=0.5, generated_at="2022-03-07T15:00:00Z", horizon_days=5),
            # Generated an hour after the as_of asked below: not yet known then.
            item(2, symbol="XOM", score=-1.0, confidence=1.0, generated_at="2022-03-07T16:00:00Z", horizon_days=5),
        ], format="json")
        r2 = quant.post("/api/v1/signals/", [
            # Five days old at as_of: exactly one half-life, so it counts half.
            {**item(0, agent="quant", symbol="AAPL", score=-0.5, confidence=1.0, horizon_days=10), "generated_at": "2022-03-02T15:00:00Z"},
        ], format="json")
        assert (r1.status_code, r2.status_code) == (201, 201)
        body = api_for(desk_admin).get("/api/v1/aggregates/", {"as_of": "2022-03-07T15:00:00Z"}).json()

        # Assert, by hand (weighted_decay: mass = weight · confidence · 2^(-age/5d)):
        #   AAPL: vendor mass 2·0.8·1 = 1.6, num 1.6·0.5 = 0.8; quant mass 1·1·0.5 = 0.5, num -0.25
        #         score = 0.55 / 2.1 = 0.261905, confidence = 2.1 / (2 + 1) = 0.7
        #         contributions: vendor 0.8/2.1 = 0.380952, quant -0.25/2.1 = -0.119048
        #   MSFT: vendor alone: score 1.0, confidence 2·0.5 / 2 = 0.5
        #   XOM: not generated yet at 15:00, no view.
        views = {v["symbol"]: v for v in body["views"]}
        assert body["method"] == "weighted_decay" and body["half_life_days"] == 5.0
        assert set(views) == {"AAPL", "MSFT"}
        assert views["AAPL"]["score"] == pytest.approx(0.55 / 2.1)
        assert views["AAPL"]["confidence"] == pytest.approx(0.7)
        assert views["AAPL"]["contributions"] == pytest.approx({"vendor": 0.8 / 2.1, "quant": -0.25 / 2.1})
        assert views["AAPL"]["n_signals"] == 2
        assert views["AAPL"]["expected_excess_return"] == pytest.approx(0.10 * 0.55 / 2.1)
        assert (views["MSFT"]["score"], views["MSFT"]["confidence"]) == pytest.approx((1.0, 0.5))

        # An hour later XOM's signal is live; the quant client sees only its own agent's view.
        later = {v["symbol"]: v for v in api_for(desk_admin).get("/api/v1/aggregates/", {"as_of": "2022-03-07T16:00:00Z"}).json()["views"]}
        own = {v["symbol"]: v for v in quant.get("/api/v1/aggregates/", {"as_of": "2022-03-07T15:00:00Z"}).json()["views"]}
        assert later["XOM"]["score"] == pytest.approx(-1.0)
        assert set(own) == {"AAPL"} and own["AAPL"]["score"] == pytest.approx(-0.5)

        # A disabled agent stops counting at once; re-enabled, it counts again.
        svc.agent_update(actor=desk_admin, agent_id=vendor_agent.id, enabled=False)
        without_vendor = api_for(desk_admin).get("/api/v1/aggregates/", {"as_of": "2022-03-07T15:00:00Z"}).json()["views"]
        assert [(v["symbol"], v["score"]) for v in without_vendor] == [("AAPL", pytest.approx(-0.5))]

    def test_new_components_integration(self, api_for, desk_admin, demo_small, market_clock, plugin_installed):
        # Arrange: the plugin's type, found through its entry point, is offered by the API.
        from django.conf import settings

        from signals_app.selectors import agent_price_frame, views_as_of
        from portfolio_app.optimisation import PortfolioOptimiser

        types = {t["name"] for t in api_for(desk_admin).get("/api/v1/agents/types/").json()}
        created = api_for(desk_admin).post(
            "/api/v1/agents/", {"name": "plug", "type": "last_move", "config": {"scale": 0.02, "confidence": 0.9}}, format="json"
        )
        assert "last_move" in types and created.status_code == 201, created.content

        # Act: the agent runs on the desk's clock, its signals are aggregated, the optimiser consumes the views.
        run = svc.agent_run(agent_id=created.json()["id"])
        result = views_as_of()
        views = result.views()
        prices = agent_price_frame(as_of=MARKET_NOW, days=500)
        optimiser = PortfolioOptimiser(
            strategy="black_litterman", params={"lookback_days": 250, "view_scale": settings.DESK_AGGREGATION["bl_scale"]}
        )
        with_views = optimiser.estimates(prices, views)
        prior = optimiser.estimates(prices, {})
        target = optimiser.optimise(prices=prices, views=views, current_weights={}, constraints={})

        # Assert: one signal per stock from the last known daily move (2022-03-03 -> 03-04 closes).
        last, before = prices.iloc[-1], prices.iloc[-2]
        assert prices.index[-1].date().isoformat() == "2022-03-04"
        assert run.status == "ran" and run.created == 20
        for symbol, view in views.items():
            expected = max(-1.0, min(1.0, (last[symbol] / before[symbol] - 1.0) / 0.02))
            assert view.score == pytest.approx(expected, abs=1e-5)
            assert view.confidence == pytest.approx(0.9) and set(view.contributions) == {"plug"}
        # The posterior moves each view's way from the prior, and the optimiser returns long-only weights.
        mu = dict(zip(with_views.symbols, with_views.mu))
        mu0 = dict(zip(prior.symbols, prior.mu))
        best = max(views, key=lambda s: views[s].score)
        worst = min(views, key=lambda s: views[s].score)
        assert mu[best] > mu0[best] and mu[worst] < mu0[worst]
        assert sum(target.weights.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(w >= -1e-9 for w in target.weights.values())
        assert "black_litterman" == target.strategy
