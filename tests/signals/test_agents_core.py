"""Agent-type plugins: config validation, the built-in signals, point-in-time, the registry."""

from __future__ import annotations

import math
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signals_app.agents import AgentType, MomentumAgent, available_agent_types, get_agent_type, prices_as_of, reload_agent_types, validate_config
from signals_app.agents.registry import agent_registry
from signals_app.aggregation import WeightedDecayAggregator
from desk.interfaces import ConfigError

PLUGIN_DIR = Path(__file__).parent / "plugin_pkg"


def frame(columns: dict[str, list[float]], start="2021-01-04") -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.bdate_range(start, periods=n))


# ---------------------------------------------------------------------------
# Config validation


@pytest.mark.parametrize(
    ("type_name", "config", "field"),
    [
        ("momentum", {"skip": 252}, "skip"),
        ("momentum", {"lookback": 0}, "lookback"),
        ("momentum", {"lookback": "252"}, "lookback"),
        ("momentum", {"scoring": "zscore"}, "scoring"),
        ("momentum", {"lookbak": 200}, "lookbak"),
        ("mean_reversion", {"window": 1}, "window"),
        ("mean_reversion", {"window": True}, "window"),
        ("mean_reversion", {"z_scale": -1.0}, "z_scale"),
        ("trend", {"fast": 50, "slow": 50}, "fast"),
        ("trend", {"slow": 2.5}, "slow"),
        ("trend", {"confidence": 1.5}, "confidence"),
        ("trend", {"horizon_days": 0}, "horizon_days"),
        ("trend", {"universe": "AAPL"}, "universe"),
        ("trend", {"universe": ["AAPL", ""]}, "universe[1]"),
        ("external", {"vendor": 3}, "vendor"),
        ("astrology", {}, "type"),
    ],
)
def test_validate_config_when_invalid_then_config_error_names_field(type_name, config, field):
    with pytest.raises(ConfigError) as excinfo:
        validate_config(type_name, config)

    assert excinfo.value.field == field
    assert str(excinfo.value).startswith(f"{field}: ")


def test_validate_config_when_not_a_mapping_then_config_error_on_config():
    with pytest.raises(ConfigError) as excinfo:
        validate_config("trend", [1, 2])

    assert excinfo.value.field == "config"


def test_validate_config_when_partial_then_defaults_filled_for_storage():
    config = validate_config("trend", {"fast": 5, "slow": 10})

    assert config.validate() is True
    assert config.to_dict() == {
        "confidence": 0.5, "horizon_days": 10.0, "universe": [], "fast": 5, "slow": 10, "scale": 0.05,
    }
    assert validate_config("external", None).to_dict() == {"vendor": ""}


# ---------------------------------------------------------------------------
# Built-in signals, hand-worked


def test_generate_when_momentum_tanh_then_twelve_minus_one_return_through_tanh():
    # Arrange: 253 rows; row 0 (252 back) = 100, row 231 (21 back) = 120, last = 90
    prices = [100.0] * 253
    prices[231], prices[-1] = 120.0, 90.0
    px = frame({"A": prices})
    as_of = px.index[-1].date()

    # Act
    (signal,) = MomentumAgent().generate(px, as_of, {"scoring": "tanh", "scale": 0.25}, agent="mom", agent_weight=2.0)

    # Assert: r = 120/100 - 1 = 0.2 (the last month's fall is skipped); tanh(0.2 / 0.25)
    assert signal.score == pytest.approx(math.tanh(0.8))
    assert (signal.agent, signal.symbol, signal.agent_weight) == ("mom", "A", 2.0)
    assert (signal.confidence, signal.horizon_days) == (0.5, 21.0)
    # Stamped at that session's 16:00 New York close (EST: 21:00 UTC), with a re-run-safe id
    assert signal.generated_at == datetime(as_of.year, as_of.month, as_of.day, 21, 0, tzinfo=timezone.utc)
    assert signal.client_signal_id == f"momentum:A:{as_of.isoformat()}"


def test_generate_when_momentum_rank_then_scores_spread_over_minus_one_to_one():
    # Returns over the 12-1 window: A +20 %, B -10 %, C +5 %
    cols = {}
    for sym, recent in {"A": 120.0, "B": 90.0, "C": 105.0}.items():
        p = [100.0] * 253
        p[231] = recent
        cols[sym] = p
    px = frame(cols)

    signals = MomentumAgent().generate(px, px.index[-1].date(), {})

    assert {s.symbol: s.score for s in signals} == pytest.approx({"A": 1.0, "B": -1.0, "C": 0.0})


def test_generate_when_history_too_short_then_no_signals():
    px = frame({"A": [100.0] * 252})

    assert MomentumAgent().generate(px, px.index[-1].date(), {}) == []


def test_generate_when_mean_reversion_then_minus_tanh_of_z_over_scale():
    # Window 4: mean 11, sample SD sqrt((1+1+1+9)/3) = 2, z = (14 - 11) / 2 = 1.5
    px = frame({"A": [50.0, 10.0, 10.0, 10.0, 14.0], "FLAT": [5.0] * 5, "GAP": [1.0, 2.0, np.nan, 2.0, 2.0]})
    agent = get_agent_type("mean_reversion")()

    signals = agent.generate(px, px.index[-1].date(), {"window": 4, "z_scale": 1.5})

    # FLAT has no spread and GAP a missing close in its window: neither is scored
    assert {s.symbol: s.score for s in signals} == pytest.approx({"A": -math.tanh(1.0)})


def test_generate_when_trend_then_tanh_of_moving_average_gap():
    # fast MA(2) = 12, slow MA(4) = 11
    px = frame({"A": [10.0, 10.0, 12.0, 12.0], "B": [12.0, 12.0, 10.0, 10.0]})

    signals = get_agent_type("trend")().generate(px, px.index[-1].date(), {"fast": 2, "slow": 4, "universe": ["A", "B", "ZZZ"]})

    assert {s.symbol: s.score for s in signals} == pytest.approx(
        {"A": math.tanh((12 / 11 - 1) / 0.05), "B": math.tanh((10 / 11 - 1) / 0.05)}
    )


def test_generate_when_external_type_then_not_implemented():
    external = get_agent_type("external")

    assert external.computed is False
    with pytest.raises(NotImplementedError):
        external().generate(frame({"A": [1.0]}), date(2021, 1, 4), {})


# ---------------------------------------------------------------------------
# Point-in-time


@pytest.mark.parametrize("type_name", ["momentum", "mean_reversion", "trend"])
def test_generate_when_later_prices_change_then_signal_at_as_of_unchanged(type_name):
    # Arrange: a random walk over 300 sessions; as_of is session 270
    rng = np.random.default_rng(3)
    px = frame({s: 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300))) for s in ["A", "B", "C"]})
    as_of = px.index[270].date()
    agent = get_agent_type(type_name)()
    tampered = px.copy()
    tampered.iloc[271:] *= 3.0  # the future triples

    # Act
    before = agent.generate(px, as_of, {})
    after = agent.generate(tampered, as_of, {})
    cut = agent.generate(px.iloc[:271], as_of, {})

    # Assert
    assert len(before) == 3
    assert before == after == cut


def test_prices_as_of_when_intraday_before_close_then_that_days_row_left_out():
    px = frame({"A": [1.0, 2.0, 3.0]})  # 2021-01-04 .. 2021-01-06
    morning = datetime(2021, 1, 5, 15, 0, tzinfo=timezone.utc)   # 10:00 New York
    evening = datetime(2021, 1, 5, 21, 30, tzinfo=timezone.utc)  # 16:30 New York

    assert prices_as_of(px, morning)["A"].tolist() == [1.0]
    assert prices_as_of(px, evening)["A"].tolist() == [1.0, 2.0]
    assert prices_as_of(px, date(2021, 1, 5))["A"].tolist() == [1.0, 2.0]


# ---------------------------------------------------------------------------
# The registry


@pytest.fixture
def plugin_installed(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    reload_agent_types()
    yield
    reload_agent_types()
    sys.modules.pop("execdesk_demo_plugin", None)


def test_registry_when_nothing_installed_then_builtins_available(monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != PLUGIN_DIR.resolve()])
    reload_agent_types()

    assert {"external", "momentum", "mean_reversion", "trend"} <= set(available_agent_types())
    assert "last_move" not in available_agent_types()


def test_registry_when_plugin_package_advertises_entry_point_then_type_appears(plugin_installed):
    # Act
    types = available_agent_types()
    plugin = get_agent_type("last_move")

    # Assert: found without any settings, its config validated with field names, and it generates
    assert "last_move" in types and issubclass(plugin, AgentType)
    assert validate_config("last_move", {"scale": 0.05}).to_dict()["scale"] == 0.05
    with pytest.raises(ConfigError) as excinfo:
        validate_config("last_move", {"scale": -1})
    assert excinfo.value.field == "scale"
    px = frame({"A": [100.0, 101.0], "B": [100.0, 99.5]})
    signals = plugin().generate(px, px.index[-1].date(), {}, agent="plug")
    assert {s.symbol: s.score for s in signals} == pytest.approx({"A": 0.5, "B": -0.25})
    # ... which the aggregation consumes like any other agent's signals
    views = WeightedDecayAggregator().aggregate(signals, signals[0].generated_at)
    assert views["A"].contributions == {"plug": pytest.approx(0.5)}


def test_registry_when_plugin_entry_point_is_broken_then_skipped_and_reported(plugin_installed):
    registry = agent_registry()

    assert "broken" not in registry.types
    assert "DoesNotExist" in registry.errors["broken"]


def test_registry_when_settings_path_given_then_type_registered_and_bad_path_raises(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    try:
        cls = get_agent_type("last_move", paths=["execdesk_demo_plugin.LastMoveAgent"])
        assert cls.__name__ == "LastMoveAgent"
        with pytest.raises(ImportError):
            available_agent_types(paths=["execdesk_demo_plugin.Nope"])
        with pytest.raises(TypeError, match="not an AgentType"):
            available_agent_types(paths=["signals_app.aggregation.WeightedDecayAggregator"])
    finally:
        reload_agent_types()
        sys.modules.pop("execdesk_demo_plugin", None)
