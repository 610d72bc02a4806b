"""Backtests with every execution algo: TWAP, VWAP and POV work each order over the execution day's simulated
intraday path (the live desk's model), on the same algo code as live; IMMEDIATE stays market-on-close, unchanged.
Pure: no database."""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from desk.clock import NEW_YORK
from desk.interfaces import ConfigError
from desk.money import price
from execution_app.scenarios import ScenarioConfig, run_backtest
from execution_app.scenarios.calendar import session_close, session_open
from market_app.intraday import brownian_bridge, path_seed, volume_profile

PERIOD = {"strategy": "equal_weight", "start": "2022-01-03", "end": "2022-04-29", "rebalance": "monthly",
          "capital": "1000000", "commission_bps": 5, "slippage_bps": 2}
REBALANCE_DAYS = ["2022-01-03", "2022-01-31", "2022-02-28", "2022-03-31", "2022-04-29"]
FALLBACK_ADV = 1_000_000.0


@pytest.fixture(scope="module")
def closes():
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset()


def run(closes, algo, algo_params=None, **kwargs):
    params = {"algo": algo, **({"algo_params": algo_params} if algo_params else {})}
    config = ScenarioConfig.from_values({**PERIOD, **kwargs.pop("values", {}), "params": params})
    return run_backtest(closes, config, **kwargs)


def expected_path(closes: pd.DataFrame, symbol: str, day: date) -> np.ndarray:
    """The live replay of ``day`` (``market_app.marks``): a bridge from the previous close to the close, with the
    volatility of the last 60 daily log returns known before the session, seeded by (symbol, day, desk seed 0)."""
    series = closes[symbol].round(6).loc[: pd.Timestamp(day)]
    history = series.iloc[:-1].to_numpy()[-61:]
    vol = float(np.std(np.diff(np.log(history)), ddof=1))
    return brownian_bridge(float(series.iloc[-2]), float(series.iloc[-1]), vol, 390, path_seed(symbol, day, 0))


def minute_of(ts: datetime, day: date) -> int:
    return int((ts - session_open(day)).total_seconds() // 60)


@pytest.mark.parametrize("algo", ["TWAP", "VWAP", "POV"])
def test_backtest_when_algo_is_not_immediate_then_run_completes_and_trades_on_rebalance_days(closes, algo):
    result = run(closes, algo)

    assert [r["date"] for r in result.rebalances] == REBALANCE_DAYS
    assert result.trades and all(r["fills"] > 0 for r in result.rebalances)
    assert {t.date.isoformat() for t in result.trades} == set(REBALANCE_DAYS)
    assert result.final_value == result.book_value  # the equity curve and the book agree to the cent
    assert result.total_commission > 0 and result.total_slippage > 0
    assert algo in result.fill_timing and "simulated" in result.fill_timing and "look-ahead" in result.fill_timing
    # No volume in the dataset and no ADV given: the fallback is said, with its figure.
    assert any("ADV" in n and "1,000,000" in n for n in result.notes)
    body = result.to_json()
    assert body["trades"][0]["ts"] and body["fill_timing"] == result.fill_timing


def test_backtest_when_twap_then_a_days_fills_are_spread_over_the_session_at_the_paths_prices(closes):
    result = run(closes, "TWAP", {"slices": 13})

    day = date(2022, 1, 3)  # invested from cash: every order is large enough for 13 slices
    aapl = [t for t in result.trades if t.date == day and t.symbol == "AAPL"]
    assert len(aapl) == 13 and len({t.order_id for t in aapl}) == 1
    times = [t.ts.astimezone(NEW_YORK) for t in aapl]
    assert times == sorted(times) and times[0].time().isoformat() == "09:30:00"
    assert [times[i + 1] - times[i] for i in range(12)] == [timedelta(minutes=30)] * 12  # 390 / 13 minutes apart
    path = expected_path(closes, "AAPL", day)
    sign = Decimal(1) if aapl[0].side == "BUY" else Decimal(-1)
    for t in aapl:
        at_path = price(Decimal(str(float(path[minute_of(t.ts, day)]))))
        assert t.price == price(at_path * (1 + sign * Decimal("0.0002")))
        assert t.slippage == (abs(t.price - at_path) * t.qty).quantize(Decimal("0.01"))
    close = price(Decimal(repr(float(closes.at[pd.Timestamp(day), "AAPL"]))))
    assert len({t.price for t in aapl}) > 10 and all(t.ts < session_close(day) for t in aapl)
    assert any(abs(t.price - close) / close > Decimal("0.002") for t in aapl)  # not all at the close


def test_backtest_when_vwap_then_a_days_fills_follow_the_u_shaped_volume_profile(closes):
    result = run(closes, "VWAP", {"interval_minutes": 30})

    day = date(2022, 2, 28)
    by_minute: dict[int, Decimal] = defaultdict(Decimal)
    for t in result.trades:
        if t.date == day:
            by_minute[minute_of(t.ts, day)] += t.qty
    assert sorted(by_minute) == list(range(0, 390, 30))
    profile = volume_profile(390)
    shares = np.array([profile[m : m + 30].sum() for m in range(0, 390, 30)])
    got = np.array([float(by_minute[m]) for m in range(0, 390, 30)])
    assert got[0] > got[6] and got[-1] > got[6]  # busy at the open and the close, quiet at lunch
    assert np.allclose(got / got.sum(), shares / shares.sum(), atol=0.01)


def test_backtest_when_pov_then_cumulative_fills_stay_within_the_rate_of_the_paths_volume(closes):
    adv = {s: 200_000.0 for s in closes.columns}
    rate = 0.05

    result = run(closes, "POV", {"rate": rate}, adv=adv)

    profile = volume_profile(390)
    per_order: dict[str, list] = defaultdict(list)
    for t in result.trades:
        per_order[t.order_id].append(t)
    assert any(len(fills) > 2 for fills in per_order.values())  # large orders take several buckets
    for fills in per_order.values():
        day = fills[0].date
        done = Decimal(0)
        for t in sorted(fills, key=lambda t: t.ts):
            m = minute_of(t.ts, day)
            assert m % 5 == 0
            done += t.qty
            # Participation: what the order did by the end of this bucket <= rate x the market's volume by then.
            assert float(done) <= rate * adv[t.symbol] * float(profile[: m + 5].sum()) + 1e-6
    assert any("ADV" in n and "given" in n for n in result.notes)


def test_backtest_when_pov_cannot_finish_and_expires_then_unworked_shares_noted(closes):
    result = run(closes, "POV", {"rate": 0.001, "on_shortfall": "expire"}, adv={s: 20_000.0 for s in closes.columns})

    assert result.trades and result.final_value == result.book_value
    assert any("unworked" in n and "POV" in n for n in result.notes)


def test_backtest_when_daily_volumes_given_then_adv_is_their_trailing_mean(closes):
    volumes = pd.DataFrame(300_000.0, index=closes.index, columns=closes.columns)
    volumes.loc["2022-01-20":"2022-01-31"] = 30_000_000.0  # a burst in the 20 sessions before 2022-01-31
    rate = 0.01

    result = run(closes, "POV", {"rate": rate}, volumes=volumes)

    day = date(2022, 1, 31)
    window = volumes.loc[:"2022-01-28"].iloc[-20:]
    adv = float(window["AAPL"].mean())
    fills = sorted((t for t in result.trades if t.date == day and t.symbol == "AAPL"), key=lambda t: t.ts)
    first_bucket = rate * adv * float(volume_profile(390)[:5].sum())
    assert fills and float(fills[0].qty) == pytest.approx(min(float(sum(t.qty for t in fills)), math.floor(first_bucket)))
    assert any("trailing 20" in n for n in result.notes)


def test_backtest_when_next_close_and_twap_then_worked_over_the_next_session(closes):
    result = run(closes, "TWAP", {"slices": 4}, values={"fill": "next_close", "end": "2022-03-31"})

    assert {t.date.isoformat() for t in result.trades} == {"2022-01-04", "2022-02-01", "2022-03-01"}
    assert "next session" in result.fill_timing and "look-ahead" not in result.fill_timing
    day = date(2022, 2, 1)
    assert sorted({minute_of(t.ts, day) for t in result.trades if t.date == day}) == [0, 97, 195, 292]


def test_backtest_when_same_inputs_then_same_result(closes):
    a = run(closes, "TWAP", {"randomise": 0.3, "seed": 7}).to_json()
    b = run(closes, "TWAP", {"randomise": 0.3, "seed": 7}).to_json()
    a.pop("elapsed_s"), b.pop("elapsed_s")
    assert a == b


def test_backtest_when_immediate_then_reference_result_unchanged(closes):
    from skfolio.datasets import load_sp500_index

    config = ScenarioConfig.from_values({"strategy": "equal_weight", "start": "2000-01-03", "end": "2022-12-28",
                                         "rebalance": "monthly", "capital": "1000000", "commission_bps": 5})

    result = run_backtest(closes, config, benchmark=load_sp500_index().iloc[:, 0])

    assert result.final_value == Decimal("16326208.39")
    body = result.to_json()
    exact = {k: body[k] for k in ("fill_timing", "final_value", "costs", "equity", "trades", "positions", "rebalances",
                                  "denied_orders", "bars", "notes")}
    digest = hashlib.sha256(json.dumps(exact, sort_keys=True).encode()).hexdigest()
    assert digest == "c8e36bcf229a6203f785ac418e8428663992d80275a67b8ac05131ee3e753654"  # byte for byte as before


@pytest.mark.parametrize(
    "params, field",
    [
        ({"algo": "SNIPER"}, "params.algo"),
        ({"algo": 5}, "params.algo"),
        ({"algo": "TWAP", "algo_params": []}, "params.algo_params"),
        ({"algo": "TWAP", "algo_params": {"slices": 0}}, "params.algo_params.slices"),
        ({"algo": "TWAP", "algo_params": {"slices": "many"}}, "params.algo_params.slices"),
        ({"algo": "TWAP", "algo_params": {"slices": 2.5}}, "params.algo_params.slices"),
        ({"algo": "TWAP", "algo_params": {"randomise": 1.5}}, "params.algo_params.randomise"),
        ({"algo": "TWAP", "algo_params": {"randomise": 0.2, "seed": -1}}, "params.algo_params.seed"),
        ({"algo": "VWAP", "algo_params": {"interval_minutes": -5}}, "params.algo_params.interval_minutes"),
        ({"algo": "VWAP", "algo_params": {"interval_minutes": 1e-9}}, "params.algo_params.interval_minutes"),
        ({"algo": "TWAP", "algo_params": {"slices": 100_000}}, "params.algo_params.slices"),
        ({"algo": "POV", "algo_params": {"interval_minutes": "0.001"}}, "params.algo_params.interval_minutes"),
        ({"algo": "VWAP", "algo_params": {"interval_minutes": "inf"}}, "params.algo_params.interval_minutes"),
        ({"algo": "POV", "algo_params": {"rate": 2}}, "params.algo_params.rate"),
        ({"algo": "POV", "algo_params": {"rate": "fast"}}, "params.algo_params.rate"),
        ({"algo": "POV", "algo_params": {"on_shortfall": "panic"}}, "params.algo_params.on_shortfall"),
        ({"algo": "TWAP", "algo_params": {"start": "10:00"}}, "params.algo_params.start"),
        ({"algo": "VWAP", "algo_params": {"slices": 3}}, "params.algo_params.slices"),
        ({"algo_params": {"slices": 3}}, "params.algo_params.slices"),
    ],
)
def test_scenario_config_when_algo_or_its_params_are_bad_then_error_names_the_field(params, field):
    with pytest.raises(ConfigError) as err:
        ScenarioConfig.from_values({**PERIOD, "params": params})
    assert err.value.field == field


def test_scenario_config_when_algo_in_lower_case_then_registry_name_kept():
    config = ScenarioConfig.from_values({**PERIOD, "params": {"algo": "twap", "algo_params": {"slices": 4}}})
    assert config.algo == "TWAP" and config.params["algo"] == "TWAP" and config.algo_params == {"slices": 4}
