"""Scenario runs through Django: stored results, the CLI, the API, the pages, paper runs."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from execution_app.scenarios import services as svc
from execution_app.models import ScenarioEquity, ScenarioRun, ScenarioTrade

pytestmark = pytest.mark.django_db
VALUES = {"strategy": "equal_weight", "start": "2022-01-03", "end": "2022-06-30", "rebalance": "monthly",
          "capital": "1000000", "commission_bps": "5", "params": {"lookback_days": 252}}


@pytest.fixture
def desk(demo_small):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="trader")


def test_backtest_execute_when_queued_then_results_and_metrics_stored_once(desk):
    run = svc.backtest_create(user=desk, values=VALUES)
    assert run.status == "queued"

    svc.backtest_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == "done" and run.progress == 1.0 and run.error == ""
    points = list(ScenarioEquity.objects.filter(run=run).order_by("date"))
    assert points[0].date.isoformat() == "2022-01-03" and points[-1].date.isoformat() == "2022-06-30"
    assert run.final_value == points[-1].equity and points[-1].benchmark is not None
    assert ScenarioTrade.objects.filter(run=run).count() == run.summary["trades"] > 0
    assert set(run.metrics) >= {"sharpe", "cagr", "max_drawdown", "beta", "information_ratio", "total_costs"}
    assert Decimal(run.metrics["total_costs"]) == Decimal(run.summary["costs"]["commission"])
    # Never in the live tables.
    from orders_app.models import Fill, Order

    assert not Order.objects.exists() and not Fill.objects.exists()
    # Redelivered: a DONE run is left alone.
    before = (run.final_value, ScenarioTrade.objects.filter(run=run).count())
    svc.backtest_execute(run_id=run.pk)
    assert (ScenarioRun.objects.get(pk=run.pk).final_value, ScenarioTrade.objects.filter(run=run).count()) == before


def test_backtest_execute_when_config_is_bad_then_failed_with_reason(desk):
    run = ScenarioRun.objects.create(strategy="equal_weight", params={**VALUES, "rebalance": "hourly"})
    svc.backtest_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("rebalance:")


@pytest.mark.parametrize(
    "override, flag",
    [
        ({"--strategy": "magic"}, "--strategy"),
        ({"--start": "2022-13-01"}, "--start"),
        ({"--end": "2021-01-01"}, "--end"),
        ({"--rebalance": "hourly"}, "--rebalance"),
        ({"--capital": "-5"}, "--capital"),
        ({"--commission-bps": "lots"}, "--commission-bps"),
        ({"--fill": "open"}, "--fill"),
        ({"--portfolio": "Nope"}, "--portfolio"),
        ({"--params": "{bad"}, "--params"),
    ],
)
def test_backtest_command_when_a_flag_is_bad_then_command_error_names_it(desk, override, flag):
    args = {"--strategy": "equal_weight", "--start": "2022-01-03", "--end": "2022-03-31", "--capital": "1000000",
            "--commission-bps": "5", **override}
    with pytest.raises(CommandError) as err:
        call_command("backtest", *[x for kv in args.items() for x in kv])
    assert str(err.value).startswith(flag)


def test_backtest_command_when_valid_then_json_and_compare_prints_table(desk, tmp_path, capsys):
    out = tmp_path / "result.json"
    call_command("backtest", "--strategy", "equal_weight", "--start", "2022-01-03", "--end", "2022-06-30",
                 "--rebalance", "monthly", "--capital", "1000000", "--commission-bps", "5", "--params",
                 '{"lookback_days": 252}', "--output", str(out))
    body = json.loads(out.read_text())
    assert {"final_value", "metrics", "equity", "trades", "positions", "costs"} <= set(body)
    assert body["equity"][-1]["equity"] == body["final_value"] and body["trades"][0]["date"] == "2022-01-03"
    call_command("backtest", "--strategy", "min_volatility", "--start", "2022-01-03", "--end", "2022-06-30",
                 "--capital", "1000000", "--commission-bps", "5", "--params", '{"lookback_days": 252}')
    ids = list(ScenarioRun.objects.order_by("id").values_list("id", flat=True))
    capsys.readouterr()

    call_command("compare", *map(str, ids))

    text = capsys.readouterr().out
    assert "sharpe" in text and "max drawdown" in text and f"#{ids[0]}" in text and f"#{ids[1]}" in text
    with pytest.raises(CommandError, match="RUN"):
        call_command("compare", str(ids[0]))


@pytest.mark.parametrize(
    "field, value",
    [("strategy", "magic"), ("start", "yesterday"), ("end", "2021-01-01"), ("rebalance", "hourly"),
     ("capital", "-1"), ("commission_bps", "x"), ("fill", "open"), ("params", {"lookback_days": 1}),
     ("params", {"agents": ["nope"]}), ("portfolio", "Nope")],
)
def test_post_backtest_when_a_field_is_bad_then_400_names_it(desk, api_for, field, value):
    response = api_for(desk).post("/api/v1/backtests/", {**VALUES, field: value}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["field"].split(".")[0].split("[")[0] == field


def test_backtests_api_when_run_done_then_list_detail_compare_and_csv(desk, api_for, django_capture_on_commit_callbacks):
    client = api_for(desk)
    response = client.post("/api/v1/backtests/", VALUES, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    a = response.json()["id"]
    svc.backtest_execute(run_id=a)
    b, _ = svc.backtest_run_now(values={**VALUES, "strategy": "min_volatility"})

    assert [r["id"] for r in client.get("/api/v1/backtests/").json()][:2] == [b.pk, a]
    detail = client.get(f"/api/v1/backtests/{a}/?trades=1").json()
    assert detail["status"] == "done" and detail["equity"][0]["date"] == "2022-01-03" and detail["trades"]
    cmp = client.get(f"/api/v1/backtests/compare/?ids={a},{b.pk}").json()
    assert set(cmp["metrics"]) == set(cmp["labels"]) and len(cmp["curves"]) == 2 and cmp["attribution"] is None
    assert client.get(f"/api/v1/backtests/compare/?ids={a}").status_code == 400
    equity = client.get(f"/api/v1/backtests/{a}/equity.csv")
    assert equity["Content-Type"] == "text/csv" and equity.content.decode().startswith("date,equity,benchmark\n2022-01-03,")
    trades = client.get(f"/api/v1/backtests/{a}/trades.csv").content.decode().splitlines()
    assert trades[0].startswith("date,symbol,side,qty,price,commission,slippage") and len(trades) == len(detail["trades"]) + 1


def test_backtests_pages_when_trader_then_form_detail_compare_and_tearsheet_render(desk, client):
    client.force_login(desk)
    a, _ = svc.backtest_run_now(values=VALUES)
    b, _ = svc.backtest_run_now(values={**VALUES, "strategy": "hrp"})

    page = client.get("/backtests/")
    assert page.status_code == 200 and b'name="strategy"' in page.content and b"compare-button" in page.content
    bad = client.post("/backtests/", {**{k: v for k, v in VALUES.items() if k != "params"}, "start": "soon"})
    assert bad.status_code == 400 and b'data-field="start"' in bad.content
    good = client.post("/backtests/", {**{k: v for k, v in VALUES.items() if k != "params"}, "strategy": "hrp"})
    assert good.status_code == 302 and ScenarioRun.objects.filter(status="queued").count() == 1
    detail = client.get(f"/backtests/{a.pk}/")
    assert detail.status_code == 200 and b"<svg" in detail.content and b"<path d=\"M" in detail.content
    assert client.get(f"/backtests/{a.pk}/tearsheet/").status_code == 200
    cmp = client.get(f"/backtests/compare/?ids={a.pk}&ids={b.pk}")
    assert cmp.status_code == 200 and b"sharpe" in cmp.content
    assert b"<script>" not in page.content and b" style=" not in detail.content


def test_paper_run_when_started_recorded_and_stopped_then_equity_points_and_metrics(desk, api_for, settings):
    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from portfolio_app.models import Portfolio

    clock = SteppedClock("2022-03-01")
    set_clock(clock)
    try:
        client = api_for(desk)
        started = client.post("/api/v1/backtests/paper/", {"portfolio": "Core Equity"}, format="json")
        assert started.status_code == 201
        run_id = started.json()["id"]
        assert client.post("/api/v1/backtests/paper/", {"portfolio": "Core Equity"}, format="json").json()["id"] == run_id
        for _ in range(3):
            clock.step_sessions(1)
            clock.to_close()
            assert svc.paper_runs_record() == 1
        stopped = client.post(f"/api/v1/backtests/{run_id}/stop/").json()
    finally:
        set_clock(None)
    assert stopped["status"] == "done" and stopped["final_value"] == str(Portfolio.objects.get(name="Core Equity").cash)
    points = list(ScenarioEquity.objects.filter(run_id=run_id).order_by("date").values_list("date", flat=True))
    assert [d.isoformat() for d in points] == ["2022-03-01", "2022-03-02", "2022-03-03", "2022-03-04"]
    assert ScenarioEquity.objects.filter(run_id=run_id, benchmark__isnull=False).count() == 4
    assert "sharpe" in stopped["metrics"]
    assert client.post(f"/api/v1/backtests/{run_id}/stop/").json()["status"] == "done"


def test_backtest_command_when_run_then_nothing_is_published_so_no_redis_is_needed(desk, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    from execution_app.scenarios import services

    def no_push(**kwargs):
        raise AssertionError(f"a command-line backtest published {kwargs.get('event_type')}")

    monkeypatch.setattr(services, "event_publish", no_push)
    out = tmp_path / "r.json"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("backtest", "--strategy", "equal_weight", "--start", "2022-01-03", "--end", "2022-06-30",
                     "--output", str(out))
    assert json.loads(out.read_text())["final_value"]


def test_backtest_execute_when_algo_is_twap_then_worked_intraday_with_the_instruments_stored_adv(desk):
    run = svc.backtest_create(user=desk, values={**VALUES, "end": "2022-02-28",
                                                 "params": {**VALUES["params"], "algo": "TWAP",
                                                            "algo_params": {"slices": 6}}})

    svc.backtest_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == "done", run.error
    assert "TWAP" in run.summary["fill_timing"] and any("Instrument.adv" in n for n in run.summary["notes"])
    first_day = ScenarioTrade.objects.filter(run=run, date="2022-01-03")
    symbol = first_day.values_list("symbol", flat=True).first()
    assert first_day.filter(symbol=symbol).count() == 6  # one fill per slice, spread over the session


@pytest.mark.parametrize(
    "params, field",
    [({"algo": "SNIPER"}, "params.algo"), ({"algo": "POV", "algo_params": {"rate": 3}}, "params.algo_params.rate"),
     ({"algo": "TWAP", "algo_params": {"slices": "x"}}, "params.algo_params.slices")],
)
def test_post_backtest_when_algo_params_are_bad_then_400_names_the_field(desk, api_for, params, field):
    response = api_for(desk).post("/api/v1/backtests/", {**VALUES, "params": params}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_post_backtest_when_algo_is_vwap_then_accepted(desk, api_for):
    response = api_for(desk).post("/api/v1/backtests/", {**VALUES, "params": {"algo": "VWAP"}}, format="json")
    assert response.status_code == 202 and response.json()["params"]["params"]["algo"] == "VWAP"


def test_backtest_command_when_algo_flags_given_then_run_worked_by_that_algo(desk, tmp_path):
    out = tmp_path / "pov.json"
    call_command("backtest", "--strategy", "equal_weight", "--start", "2022-01-03", "--end", "2022-02-28",
                 "--algo", "POV", "--algo-params", '{"rate": 0.05}', "--output", str(out))
    body = json.loads(out.read_text())
    assert body["config"]["params"] == {"algo": "POV", "algo_params": {"rate": 0.05}}
    assert "POV" in body["fill_timing"] and body["trades"][0]["ts"]
    with pytest.raises(CommandError) as err:
        call_command("backtest", "--strategy", "equal_weight", "--start", "2022-01-03", "--end", "2022-02-28",
                     "--algo", "POV", "--algo-params", '{"rate": 0}')
    assert str(err.value).startswith("--algo-params")
    with pytest.raises(CommandError) as err:
        call_command("backtest", "--strategy", "equal_weight", "--start", "2022-01-03", "--end", "2022-02-28",
                     "--algo", "SNIPER")
    assert str(err.value).startswith("--algo")


def test_backtests_page_when_algo_chosen_then_run_queued_with_it_and_bad_params_named(desk, client):
    client.force_login(desk)
    form = {k: v for k, v in VALUES.items() if k != "params"}

    page = client.get("/backtests/")
    assert b'name="algo"' in page.content and b'value="POV"' in page.content
    good = client.post("/backtests/", {**form, "algo": "POV", "algo_params": '{"rate": 0.05}'})
    assert good.status_code == 302
    assert ScenarioRun.objects.get(status="queued").params["params"] == {"algo": "POV", "algo_params": {"rate": 0.05}}
    bad = client.post("/backtests/", {**form, "algo": "POV", "algo_params": '{"rate": 5}'})
    assert bad.status_code == 400 and b'data-field="params.algo_params.rate"' in bad.content
    plain = client.post("/backtests/", {**form, "algo": "IMMEDIATE", "algo_params": ""})
    assert plain.status_code == 302 and ScenarioRun.objects.order_by("-id").first().params["params"] == {}


def test_backtest_command_when_started_with_the_collector_off_then_start_up_frozen_and_collector_back_on(desk):
    """``manage.py backtest`` turns the garbage collector off for Django's start-up; the command turns it back on,
    with what the start-up made frozen out of its walks. Called in-process (the collector on), it leaves both alone."""
    import gc

    args = ("backtest", "--strategy", "equal_weight", "--start", "2022-01-03", "--end", "2022-03-31", "--params",
            '{"lookback_days": 252}')
    call_command(*args)
    assert gc.isenabled() and gc.get_freeze_count() == 0

    gc.disable()
    try:
        call_command(*args)
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()
