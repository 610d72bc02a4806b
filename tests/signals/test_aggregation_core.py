"""The aggregation core: hand-worked views, Black-Litterman mapping, and properties."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signals_app.aggregation import METHODS, LatestPerAgentAggregator, MajorityVoteAggregator, WeightedDecayAggregator, aggregate_arrays, available_aggregators, get_aggregator, records_to_columns, views_to_bl
from desk.interfaces import SignalRecord, View

AS_OF = datetime(2022, 1, 10, 16, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def sig(agent, symbol, score, confidence=1.0, age=timedelta(0), horizon_days=5.0, weight=1.0):
    return SignalRecord(
        agent=agent, symbol=symbol, score=score, confidence=confidence,
        generated_at=AS_OF - age, horizon_days=horizon_days, agent_weight=weight,
    )


@pytest.fixture
def desk_signals():
    return [
        sig("alpha", "AAPL", 0.8, confidence=1.0, weight=1.0),                # mass 1·1·1 = 1
        sig("beta", "AAPL", -0.4, confidence=0.5, weight=2.0, age=DAY),       # mass 2·0.5·0.5 = 0.5
        sig("gamma", "AAPL", 1.0, age=2 * DAY, horizon_days=1.0),             # expired: ignored
        sig("delta", "AAPL", -1.0, age=-timedelta(seconds=1)),                # from the future: ignored
        sig("alpha", "MSFT", -0.6, confidence=0.8, age=2 * DAY),              # mass 1·0.8·0.25 = 0.2
    ]


def test_aggregate_when_weighted_decay_then_views_match_hand_worked_numbers(desk_signals):
    # Arrange
    aggregator = WeightedDecayAggregator(half_life_days=1.0)

    # Act
    views = aggregator.aggregate(desk_signals, AS_OF)

    # Assert: AAPL score (1·0.8 + 0.5·-0.4) / 1.5 = 0.4; confidence 1.5 / (1 + 2) = 0.5
    assert sorted(views) == ["AAPL", "MSFT"]
    aapl = views["AAPL"]
    assert aapl.score == pytest.approx(0.4)
    assert aapl.confidence == pytest.approx(0.5)
    assert dict(aapl.contributions) == pytest.approx({"alpha": 0.8 / 1.5, "beta": -0.2 / 1.5})
    # MSFT: one signal keeps its score; confidence 0.8 · 0.25 (two half-lives) / weight 1 = 0.2
    assert views["MSFT"] == View("MSFT", pytest.approx(-0.6), pytest.approx(0.2), {"alpha": pytest.approx(-0.6)})


def test_aggregate_when_decay_off_then_only_weight_and_confidence_count(desk_signals):
    views = WeightedDecayAggregator(half_life_days=None).aggregate(desk_signals, AS_OF)

    # AAPL masses 1 and 2·0.5 = 1: score (0.8 - 0.4) / 2 = 0.2, confidence 2 / 3
    assert views["AAPL"].score == pytest.approx(0.2)
    assert views["AAPL"].confidence == pytest.approx(2 / 3)
    assert views["MSFT"].confidence == pytest.approx(0.8)


def test_aggregate_when_majority_vote_then_score_is_weighted_net_vote(desk_signals):
    views = MajorityVoteAggregator(half_life_days=1.0).aggregate(desk_signals, AS_OF)

    # Votes +1 with mass 1 and -1 with mass 0.5: (1 - 0.5) / 1.5 = 1/3
    assert views["AAPL"].score == pytest.approx(1 / 3)
    assert views["AAPL"].confidence == pytest.approx(0.5)
    assert dict(views["AAPL"].contributions) == pytest.approx({"alpha": 2 / 3, "beta": -1 / 3})
    assert views["MSFT"].score == pytest.approx(-1.0)


def test_aggregate_when_agent_sent_twice_then_latest_per_agent_keeps_only_the_newest():
    # Arrange: alpha changed its mind; a day-old -0.2 and a fresh +0.8
    signals = [sig("alpha", "AAPL", -0.2, age=DAY), sig("alpha", "AAPL", 0.8)]

    # Act
    latest = LatestPerAgentAggregator(half_life_days=1.0).aggregate(signals, AS_OF)
    decayed = WeightedDecayAggregator(half_life_days=1.0).aggregate(signals, AS_OF)

    # Assert: latest sees only +0.8; the default blends (0.8 - 0.5·0.2) / 1.5 with confidence 1.5 / 2
    assert latest["AAPL"].score == pytest.approx(0.8)
    assert latest["AAPL"].confidence == pytest.approx(1.0)
    assert decayed["AAPL"].score == pytest.approx(0.7 / 1.5)
    assert decayed["AAPL"].confidence == pytest.approx(0.75)


def test_aggregate_when_every_confidence_is_zero_then_view_is_neutral_and_unsure():
    views = WeightedDecayAggregator().aggregate([sig("a", "X", 0.9, confidence=0.0)], AS_OF)

    assert views["X"] == View("X", 0.0, 0.0, {"a": 0.0})


def test_aggregate_when_no_live_signals_then_no_views():
    assert WeightedDecayAggregator().aggregate([sig("a", "X", 0.5, age=10 * DAY)], AS_OF) == {}
    assert WeightedDecayAggregator().aggregate([], AS_OF) == {}


def test_aggregate_when_signal_age_equals_horizon_then_it_still_counts():
    views = WeightedDecayAggregator().aggregate([sig("a", "X", 0.5, age=2 * DAY, horizon_days=2.0)], AS_OF)

    assert views["X"].score == pytest.approx(0.5)


def test_aggregate_when_timestamp_is_naive_then_value_error():
    naive = SignalRecord("a", "X", 0.1, 0.5, datetime(2022, 1, 10))
    with pytest.raises(ValueError, match="generated_at\\[0\\]"):
        WeightedDecayAggregator().aggregate([naive], AS_OF)
    with pytest.raises(ValueError, match="as_of"):
        WeightedDecayAggregator().aggregate([], datetime(2022, 1, 10))


def test_aggregate_arrays_when_score_out_of_range_then_value_error_names_row():
    with pytest.raises(ValueError, match=r"score\[1\]"):
        aggregate_arrays(["X", "X"], ["a", "b"], [0.1, 1.5], [1, 1], [1, 1], [0, 0], 86_400, 10, None)
    with pytest.raises(ValueError, match=r"weight\[0\]"):
        aggregate_arrays(["X"], ["a"], [0.1], [1], [-1], [0], 86_400, 10, None)


def test_aggregate_arrays_when_given_columns_then_equals_record_path(desk_signals):
    # Arrange
    columns = records_to_columns(desk_signals)

    # Act
    from_arrays = aggregate_arrays(**columns, as_of_epoch_s=AS_OF.timestamp(), half_life_s=86_400.0)
    from_records = WeightedDecayAggregator(half_life_days=1.0).aggregate(desk_signals, AS_OF)

    # Assert
    assert from_arrays == from_records


def test_get_aggregator_when_named_then_built_with_params_and_unknown_raises():
    agg = get_aggregator("majority_vote", half_life_days=2.0)

    assert isinstance(agg, MajorityVoteAggregator) and agg.half_life_days == 2.0
    assert isinstance(get_aggregator("signals_app.aggregation.LatestPerAgentAggregator"), LatestPerAgentAggregator)
    assert set(METHODS) <= set(available_aggregators())
    with pytest.raises(LookupError, match="unknown aggregator"):
        get_aggregator("median")
    with pytest.raises(ValueError, match="half_life_days"):
        WeightedDecayAggregator(half_life_days=0)


def test_views_to_bl_when_linear_scale_then_score_times_scale():
    views = {"AAPL": View("AAPL", 0.4, 0.5), "MSFT": View("MSFT", -0.6, 0.2), "TSLA": View("TSLA", 0.9, 0.0)}

    q, conf = views_to_bl(views, scale=0.10)

    assert q == pytest.approx({"AAPL": 0.04, "MSFT": -0.06, "TSLA": 0.09})
    assert conf == {"AAPL": 0.5, "MSFT": 0.2, "TSLA": 0.0}


def test_views_to_bl_when_custom_mapping_and_min_confidence_then_applied():
    views = [View("AAPL", 0.5, 0.5), View("TSLA", 0.9, 0.05)]

    q, conf = views_to_bl(views, mapping=lambda s: 0.2 * s**3, min_confidence=0.1)

    assert q == pytest.approx({"AAPL": 0.025})
    assert conf == {"AAPL": 0.5}


def test_views_to_bl_when_prior_given_then_views_tilt_the_market_implied_return():
    views = {"AAPL": View("AAPL", 0.4, 0.5), "MSFT": View("MSFT", 0.0, 0.9), "XOM": View("XOM", 1.0, 1.0)}

    q, conf = views_to_bl(views, scale=0.10, prior={"AAPL": 0.05, "MSFT": 0.07})

    # AAPL 0.05 + 0.10·0.4; MSFT's neutral score keeps its prior; XOM has no prior and is left out
    assert q == pytest.approx({"AAPL": 0.09, "MSFT": 0.07})
    assert conf == {"AAPL": 0.5, "MSFT": 0.9}


def test_views_to_bl_when_fed_to_pypfopt_then_bullish_view_raises_posterior_return():
    # Arrange
    import pandas as pd
    from pypfopt import BlackLittermanModel

    cov = pd.DataFrame(np.diag([0.04, 0.09]), index=["A", "B"], columns=["A", "B"])
    prior = pd.Series({"A": 0.05, "B": 0.06})
    q, conf = views_to_bl({"A": View("A", 0.5, 0.8), "B": View("B", -0.5, 0.0)}, prior=prior.to_dict())

    # Act
    model = BlackLittermanModel(cov, pi=prior, absolute_views=q, omega="idzorek", view_confidences=[conf[s] for s in q])
    posterior = model.bl_returns()

    # Assert: A's tilt of +5 % moves it up (80 % of the way), B's zero-confidence view changes nothing
    assert posterior["A"] == pytest.approx(0.05 + 0.8 * 0.05, rel=1e-3)
    assert posterior["B"] == pytest.approx(0.06, abs=1e-6)


# ---------------------------------------------------------------------------
# Properties

signal_st = st.builds(
    sig,
    agent=st.sampled_from(["x", "y", "z"]),
    symbol=st.sampled_from(["A", "B", "C"]),
    score=st.floats(-1, 1),
    confidence=st.floats(0, 1),
    age=st.integers(0, 10 * 86_400).map(lambda s: timedelta(seconds=s)),
    horizon_days=st.floats(0.5, 20),
    weight=st.floats(0, 5),
)
method_st = st.sampled_from(METHODS)


@settings(max_examples=200, deadline=None)
@given(signals=st.lists(signal_st, max_size=30), method=method_st, half_life=st.floats(0.1, 30) | st.none())
def test_aggregate_when_any_signals_then_bounds_hold_and_contributions_sum_to_score(signals, method, half_life):
    views = get_aggregator(method, half_life_days=half_life).aggregate(signals, AS_OF)

    for view in views.values():
        assert -1.0 <= view.score <= 1.0
        assert 0.0 <= view.confidence <= 1.0
        assert math.fsum(view.contributions.values()) == pytest.approx(view.score, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), signals=st.lists(signal_st, min_size=1, max_size=30), method=method_st)
def test_aggregate_when_signals_permuted_then_views_unchanged(data, signals, method):
    shuffled = data.draw(st.permutations(signals))
    agg = get_aggregator(method, half_life_days=2.0)

    before, after = agg.aggregate(signals, AS_OF), agg.aggregate(shuffled, AS_OF)

    assert before.keys() == after.keys()
    for sym, view in before.items():
        assert after[sym].score == pytest.approx(view.score, abs=1e-12)
        assert after[sym].confidence == pytest.approx(view.confidence, abs=1e-12)
        assert dict(after[sym].contributions) == pytest.approx(dict(view.contributions), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    sx=st.floats(-1, 1), sy=st.floats(-1, 1),
    cx=st.floats(0.01, 1), cy=st.floats(0.01, 1),
    young=st.integers(0, 5 * 86_400), extra=st.integers(1, 5 * 86_400),
    y_age=st.integers(0, 10 * 86_400),
)
def test_aggregate_when_a_signal_gets_older_then_it_counts_less(sx, sy, cx, cy, young, extra, y_age):
    # Arrange: the same x signal at two ages, y unchanged; horizons cover both
    def views_with_x_age(seconds):
        signals = [
            sig("x", "A", sx, confidence=cx, age=timedelta(seconds=seconds), horizon_days=20),
            sig("y", "A", sy, confidence=cy, age=timedelta(seconds=y_age), horizon_days=20),
        ]
        return WeightedDecayAggregator(half_life_days=1.0).aggregate(signals, AS_OF)["A"]

    # Act
    fresh, stale = views_with_x_age(young), views_with_x_age(young + extra)

    # Assert: the view moves towards y's score, x's share shrinks, and confidence does not rise
    assert (stale.score - fresh.score) * (sy - sx) >= -1e-12
    assert abs(stale.score - sy) <= abs(fresh.score - sy) + 1e-12
    assert stale.confidence <= fresh.confidence + 1e-12
    assert abs(stale.contributions["x"]) <= abs(fresh.contributions["x"]) + 1e-12


@settings(max_examples=100, deadline=None)
@given(age=st.integers(0, 86_400 * 5), extra=st.integers(1, 86_400 * 5), c=st.floats(0.01, 1))
def test_aggregate_when_lone_signal_ages_then_confidence_strictly_falls(age, extra, c):
    agg = WeightedDecayAggregator(half_life_days=1.0)
    at = lambda s: agg.aggregate([sig("x", "A", 0.5, confidence=c, age=timedelta(seconds=s), horizon_days=20)], AS_OF)["A"]

    assert at(age + extra).confidence < at(age).confidence
    assert at(age).confidence == pytest.approx(c * 2 ** (-age / 86_400))


def test_aggregate_arrays_when_many_rows_then_matches_naive_loop():
    # Arrange: a larger random case against a plain-Python reading of the formula
    rng = np.random.default_rng(7)
    n = 2_000
    syms = rng.choice(["A", "B", "C", "D"], n)
    agents = rng.choice(["p", "q", "r"], n)
    s, c, w = rng.uniform(-1, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 3, n)
    t = 1_000_000 - rng.uniform(-86_400, 9 * 86_400, n)
    h = rng.uniform(1, 10, n) * 86_400

    # Act
    views = aggregate_arrays(syms, agents, s, c, w, t, h, 1_000_000.0, 2 * 86_400.0)

    # Assert
    for sym in "ABCD":
        age = 1_000_000 - t
        live = (syms == sym) & (age >= 0) & (age <= h)
        m = w[live] * c[live] * 2 ** (-age[live] / (2 * 86_400))
        assert views[sym].score == pytest.approx((m * s[live]).sum() / m.sum())
        assert views[sym].confidence == pytest.approx(m.sum() / w[live].sum())
        for a in "pqr":
            sel = agents[live] == a
            assert views[sym].contributions[a] == pytest.approx((m[sel] * s[live][sel]).sum() / m.sum())
