"""Agents: only admins change them, configs are checked by their type, computed runs are point-in-time."""

from __future__ import annotations

from tests.helpers import error_fields

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest

from signals_app import services as svc
from signals_app.models import Agent, Signal
from tests.signals.signal_fixtures import (  # noqa: F401 - fixtures
    instruments,
    item,
    market_clock,
    other_agent,
    vendor_agent,
)

URL = "/api/v1/agents/"
pytestmark = pytest.mark.django_db


def test_create_agent_when_admin_then_201_with_config_defaults(api_for, desk_admin, api_client_user):
    response = api_for(desk_admin).post(
        URL, {"name": "mom", "type": "momentum", "config": {"lookback": 126}, "weight": "1.5", "owner": "bot1"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["config"]["lookback"] == 126 and body["config"]["skip"] == 21
    assert (body["weight"], body["owner"], body["schedule"], body["enabled"]) == ("1.5000", "bot1", "daily", True)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"type": "momentum", "config": {"lookback": 0}}, "config.lookback"),
        ({"type": "trend", "config": {"fast": 60, "slow": 50}}, "config.fast"),
        ({"type": "momentum", "config": {"lookbak": 10}}, "config.lookbak"),
        ({"type": "no_such_type"}, "type"),
        ({"type": "momentum", "weight": "-1"}, "weight"),
        ({"type": "momentum", "schedule": "hourly"}, "schedule"),
    ],
)
def test_create_agent_when_field_invalid_then_400_names_field_and_nothing_saved(api_for, desk_admin, payload, field):
    response = api_for(desk_admin).post(URL, {"name": "x", **payload}, format="json")

    assert response.status_code == 400
    assert field in error_fields(response)
    assert not Agent.objects.exists()


def test_create_agent_when_name_taken_then_400_on_name(api_for, desk_admin, vendor_agent):
    response = api_for(desk_admin).post(URL, {"name": "vendor", "type": "external"}, format="json")

    assert response.status_code == 400 and "name" in error_fields(response)


@pytest.mark.parametrize("who", ["trader", "risk_officer", "api_client_user"])
def test_change_agent_when_not_admin_then_403_and_unchanged(request, api_for, who, vendor_agent):
    client = api_for(request.getfixturevalue(who))

    created = client.post(URL, {"name": "y", "type": "external"}, format="json")
    patched = client.patch(f"{URL}{vendor_agent.id}/", {"weight": "9", "config": {"vendor": "z"}}, format="json")

    assert (created.status_code, patched.status_code) == (403, 403)
    vendor_agent.refresh_from_db()
    assert vendor_agent.weight == Decimal("2") and Agent.objects.count() == 1


def test_update_agent_when_service_called_by_non_admin_then_forbidden(trader, vendor_agent):
    with pytest.raises(svc.AgentForbidden):
        svc.agent_update(actor=trader, agent_id=vendor_agent.id, weight="3")


def test_update_agent_when_admin_patches_then_only_sent_fields_change_and_history_records_who(api_for, desk_admin, vendor_agent):
    response = api_for(desk_admin).patch(f"{URL}{vendor_agent.id}/", {"weight": "0.25"}, format="json")

    assert response.status_code == 200
    vendor_agent.refresh_from_db()
    assert vendor_agent.weight == Decimal("0.25") and vendor_agent.owner.username == "bot1" and vendor_agent.enabled
    latest = vendor_agent.history.first()
    assert latest.history_user == desk_admin and latest.weight == Decimal("0.25")


def test_update_agent_when_config_invalid_then_400_and_nothing_saved(api_for, desk_admin):
    agent = svc.agent_create(actor=desk_admin, name="tr", type="trend", config={"fast": 10, "slow": 30})

    response = api_for(desk_admin).patch(f"{URL}{agent.id}/", {"config": {"fast": 40, "slow": 30}, "weight": "3"}, format="json")

    assert response.status_code == 400 and "config.fast" in error_fields(response)
    agent.refresh_from_db()
    assert agent.config["fast"] == 10 and agent.weight == Decimal("1")


def test_list_agents_when_api_client_then_only_own_and_others_404(api_for, api_client_user, trader, vendor_agent, other_agent):
    mine = api_for(api_client_user).get(URL).json()

    assert [a["name"] for a in mine] == ["vendor"]
    assert api_for(api_client_user).get(f"{URL}{other_agent.id}/").status_code == 404
    assert {a["name"] for a in api_for(trader).get(URL).json()} == {"vendor", "someone-else"}


def test_agent_types_when_listed_then_builtins_with_defaults(api_for, trader):
    types = {t["name"]: t for t in api_for(trader).get(f"{URL}types/").json()}

    assert {"external", "momentum", "mean_reversion", "trend"} <= set(types)
    assert types["trend"]["computed"] and types["trend"]["defaults"]["slow"] == 50


# ---------------------------------------------------------------------------
# Computed runs


def bars(symbols_prices: dict[str, list[float]], end: date) -> None:
    """Daily closes ending at ``end`` (business days), written as the demo loader writes them."""
    from market_app.models import Instrument, PriceBar

    n = max(len(v) for v in symbols_prices.values())
    days = pd.bdate_range(end=end, periods=n)
    ids = dict(Instrument.objects.values_list("symbol", "id"))
    PriceBar.objects.bulk_create(
        [PriceBar(instrument_id=ids[s], date=d.date(), close=Decimal(str(p))) for s, ps in symbols_prices.items()
         for d, p in zip(days[-len(ps):], ps)]
    )


def test_agent_run_when_future_bars_exist_then_only_closes_known_at_the_clock_are_used(desk_admin, instruments, market_clock):
    # Arrange: MARKET_NOW is 2022-03-07 10:00 New York, so the last known close is Friday 2022-03-04.
    # AAPL rises 1% a day until then; from Monday on (unknown yet) it collapses.
    known = [100.0 * 1.01**k for k in range(10)]
    bars({"AAPL": known + [50.0, 40.0], "MSFT": [100.0] * 10 + [200.0, 300.0]}, end=date(2022, 3, 8))
    agent = svc.agent_create(actor=desk_admin, name="plug", type="trend",
                             config={"fast": 2, "slow": 4, "universe": ["AAPL"], "scale": 0.05, "confidence": 0.7})

    # Act
    result = svc.agent_run(agent_id=agent.id)

    # Assert, by hand: MA2 / MA4 - 1 over the last four known closes 100·1.01^6..9
    p = known[-4:]
    expected = math.tanh(((p[2] + p[3]) / 2 / (sum(p) / 4) - 1) / 0.05)
    stored = Signal.objects.get(agent=agent)
    assert result.status == "ran" and result.created == 1
    assert stored.instrument.symbol == "AAPL" and float(stored.score) == pytest.approx(expected, abs=1e-5)
    assert stored.generated_at == market_clock.market_now() and stored.confidence == Decimal("0.70000")
    agent.refresh_from_db()
    assert agent.last_run_market_date == date(2022, 3, 7)


def test_agent_run_when_run_again_same_day_then_nothing_new_and_next_day_runs_with_new_weight(desk_admin, instruments, market_clock):
    bars({"AAPL": [100.0 + k for k in range(30)], "XOM": [80.0 - k * 0.5 for k in range(30)]}, end=date(2022, 3, 11))
    agent = svc.agent_create(actor=desk_admin, name="mr", type="mean_reversion", config={"window": 5})

    first = svc.agent_run(agent_id=agent.id)
    again = svc.agent_run(agent_id=agent.id)
    forced = svc.agent_run(agent_id=agent.id, force=True)
    svc.agent_update(actor=desk_admin, agent_id=agent.id, config={"window": 10}, weight="0.5")
    market_clock.step_sessions(1)
    next_day = svc.agent_run(agent_id=agent.id)

    assert (first.status, first.created) == ("ran", 2)
    assert (again.status, again.reason) == ("skipped", "not due")
    assert (forced.status, forced.created, forced.existing) == ("ran", 0, 2)
    assert (next_day.status, next_day.created) == ("ran", 2)
    assert Signal.objects.filter(agent=agent).count() == 4


def test_agent_run_due_when_agents_disabled_manual_or_external_then_only_due_computed_ones(
    desk_admin, vendor_agent, market_clock, monkeypatch, django_capture_on_commit_callbacks
):
    from desk import tasks as desk_tasks

    queued = []
    monkeypatch.setattr(desk_tasks, "enqueue", lambda name, args=(), kwargs=None, **o: queued.append(args[0]) if name == "signals_app.tasks.agent_run" else None)
    due = svc.agent_create(actor=desk_admin, name="a-due", type="momentum")
    svc.agent_create(actor=desk_admin, name="b-off", type="momentum", enabled=False)
    svc.agent_create(actor=desk_admin, name="c-manual", type="momentum", schedule="manual")

    with django_capture_on_commit_callbacks(execute=True):
        ids = svc.agent_run_due()

    assert ids == [due.id] and queued == [due.id]


def test_schedule_due_when_weekly_then_once_per_market_week():
    assert svc.schedule_due("weekly", date(2022, 3, 7), date(2022, 3, 11)) is False
    assert svc.schedule_due("weekly", date(2022, 3, 11), date(2022, 3, 14)) is True
    assert svc.schedule_due("daily", None, date(2022, 3, 14)) is True
    assert svc.schedule_due("manual", None, date(2022, 3, 14)) is False


@pytest.mark.live
def test_agent_run_due_when_beat_task_runs_then_worker_stores_signals_on_agents_queue(
    transactional_db, celery_worker_live, desk_admin, instruments, market_clock
):
    import time

    from signals_app import tasks

    bars({"AAPL": [100.0 + k for k in range(30)], "MSFT": [50.0 + (k % 3) for k in range(30)]}, end=date(2022, 3, 4))
    agent = svc.agent_create(actor=desk_admin, name="mr-live", type="mean_reversion", config={"window": 5})
    # The worker runs in this process (threads), so the stepped clock is the one it reads.
    tasks.agent_run_due.delay()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Signal.objects.filter(agent=agent).exists():
        time.sleep(0.2)
    assert Signal.objects.filter(agent=agent).count() == 2
    agent.refresh_from_db()
    assert agent.last_run_market_date == date(2022, 3, 7)
    assert datetime.now(timezone.utc) - agent.last_run_at < timedelta(minutes=1)
