"""Where a strategy is configured (the backtest API and page): oversized universes and bad budgets are 400s."""

from __future__ import annotations

import pytest

from tests.helpers import error_fields

pytestmark = pytest.mark.django_db
VALUES = {"start": "2022-01-03", "end": "2022-06-30", "rebalance": "monthly", "capital": "1000000", "commission_bps": "5",
          "params": {"lookback_days": 252}}


@pytest.fixture
def desk(demo_small):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="trader")


def _post(api, strategy, **params):
    body = {**VALUES, "strategy": strategy, "params": {**VALUES["params"], **params}}
    return api.post("/api/v1/backtests/", body, format="json")


def test_post_backtest_when_cla_universe_above_limit_then_400_names_strategy_and_limit(desk, api_for):
    symbols = [f"S{i:03d}" for i in range(101)]

    response = _post(api_for(desk), "cla", symbols=symbols)

    assert response.status_code == 400
    body = response.json()
    assert error_fields(response) == {"strategy"}
    assert "limited to 100 instruments" in body["errors"][0]["reason"] and "has 101" in body["errors"][0]["reason"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"risk_budgets": {"AAPL": -0.2, "MSFT": 1.2}}, "params.risk_budgets.AAPL"),
        ({"risk_budgets": {"AAPL": 0.5, "MSFT": 0.6}}, "params.risk_budgets"),
        ({"risk_budgets": {"AAPL": 0.5, "NOPE": 0.5}}, "params.risk_budgets.NOPE"),
        ({"sector_risk_budgets": {"Astrology": 1.0}, "constraints": {"sector_mapper": {"AAPL": "Tech"}}},
         "params.sector_risk_budgets.Astrology"),
    ],
)
def test_post_backtest_when_risk_budget_bad_then_400_names_the_field(desk, api_for, params, field):
    response = _post(api_for(desk), "risk_parity", **params)

    assert response.status_code == 400 and error_fields(response) == {field}


def test_post_backtest_when_risk_budgets_per_sector_valid_then_accepted_and_run(desk, api_for):
    from execution_app.scenarios import services as svc
    from execution_app.models import ScenarioRun
    from market_app.models import Instrument

    mapper = dict(Instrument.objects.filter(asset_class="equity").values_list("symbol", "sector"))
    sectors = sorted(set(mapper.values()))
    budgets = {s: 1 / len(sectors) for s in sectors}

    response = _post(api_for(desk), "risk_parity", sector_risk_budgets=budgets, constraints={"sector_mapper": mapper})

    assert response.status_code == 202, response.json()
    svc.backtest_execute(run_id=response.json()["id"])
    assert ScenarioRun.objects.get(pk=response.json()["id"]).status == "done"


def test_backtests_page_when_cla_above_lowered_limit_then_400_with_message(desk, client, settings):
    settings.DESK_STRATEGY_SIZE_LIMITS = {"cla": 5}
    client.force_login(desk)

    page = client.post("/backtests/", {**{k: v for k, v in VALUES.items() if k != "params"}, "strategy": "cla"})

    assert page.status_code == 400 and b'data-field="strategy"' in page.content
    assert b"limited to 5 instruments" in page.content
