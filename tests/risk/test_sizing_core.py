"""Sizing: caps, vol targeting and the Kelly cap, with hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.interfaces import TargetWeights
from risk_app.sizing import SizingConfig, VolTargetSizer, cap_weights, kelly_scale, portfolio_vol, size_weights, vol_target

COV = np.diag([0.04, 0.04])  # two uncorrelated assets, 20% annual vol each


def test_cap_weights_when_over_cap_then_clipped_and_excess_left_in_cash():
    w = cap_weights(np.array([0.5, -0.4, 0.1]), 0.3)
    assert w.tolist() == pytest.approx([0.3, -0.3, 0.1])


def test_vol_target_when_too_risky_then_scaled_down_proportionally():
    # vol of [0.5, 0.5] = sqrt(0.25*0.04*2) = 0.14142; half of it needs s = 0.5
    w, s, notes = vol_target(np.array([0.5, 0.5]), COV, 0.0707107)
    assert s == pytest.approx(0.5, rel=1e-6)
    assert w.tolist() == pytest.approx([0.25, 0.25], rel=1e-6)
    assert notes == ()


def test_vol_target_when_scale_up_needs_leverage_then_held_at_max_gross_with_note():
    w, s, notes = vol_target(np.array([0.5, 0.5]), COV, 0.2828427)
    assert w.tolist() == pytest.approx([0.5, 0.5])
    assert "max gross" in notes[0]


def test_vol_target_when_leverage_allowed_then_target_hit():
    w, s, _ = vol_target(np.array([0.5, 0.5]), COV, 0.2828427, allow_leverage=True)
    assert s == pytest.approx(2.0, rel=1e-6)
    assert w.tolist() == pytest.approx([1.0, 1.0], rel=1e-6)


def test_vol_target_when_a_name_capped_then_others_scale_to_target():
    # w(s) = [0.3, 0.1 s]; vol^2 = 0.0036 + 0.0004 s^2 = 0.08^2 -> s = sqrt(7)
    w, s, notes = vol_target(np.array([0.3, 0.1]), COV, 0.08, max_weight=0.3)
    assert s == pytest.approx(math.sqrt(7), rel=1e-6)
    assert w.tolist() == pytest.approx([0.3, 0.1 * math.sqrt(7)], rel=1e-6)
    assert notes == ()


def test_vol_target_when_every_name_reaches_its_cap_then_below_target_with_note():
    # at s = 3 both names sit at 0.3: vol = sqrt(2 * 0.09 * 0.04) = 0.0849 < 0.10
    w, s, notes = vol_target(np.array([0.3, 0.1]), COV, 0.10, max_weight=0.3)
    assert w.tolist() == pytest.approx([0.3, 0.3])
    assert "max weight caps" in notes[0]


def test_vol_target_when_zero_weights_then_unchanged():
    w, s, notes = vol_target(np.zeros(2), COV, 0.1)
    assert w.tolist() == [0.0, 0.0] and "zero" in notes[0]


def test_kelly_scale_when_positive_edge_then_fraction_of_mu_over_variance():
    assert kelly_scale(np.array([1.0]), np.array([0.02]), np.array([[0.04]]), 0.5) == pytest.approx(0.25)


def test_kelly_scale_when_negative_edge_then_zero():
    assert kelly_scale(np.array([1.0]), np.array([-0.02]), np.array([[0.04]]), 0.5) == 0.0


def test_size_weights_when_kelly_binds_then_scaled_down_with_note():
    cfg = SizingConfig(target_vol=None, kelly_fraction=0.5)
    res = size_weights(np.array([1.0]), np.array([[0.04]]), cfg, mu_annual=np.array([0.02]))
    assert res.weights.tolist() == pytest.approx([0.25])
    assert "Kelly" in res.notes[0]


def test_size_weights_when_kelly_without_returns_then_error():
    with pytest.raises(ValueError):
        size_weights(np.array([1.0]), np.array([[0.04]]), SizingConfig(kelly_fraction=0.5))


def test_size_weights_when_no_vol_target_and_over_gross_then_scaled_to_max_gross():
    res = size_weights(np.array([0.8, 0.8]), COV, SizingConfig(target_vol=None))
    assert res.weights.tolist() == pytest.approx([0.5, 0.5])


@settings(max_examples=60, deadline=None)
@given(
    w=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda x: sum(x) > 0.01),
    cap=st.floats(0.2, 0.6),
    target=st.floats(0.02, 0.5),
)
def test_size_weights_when_any_long_only_input_then_caps_gross_and_vol_bound_hold(w, cap, target):
    cov = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.16]])
    res = size_weights(np.array(w), cov, SizingConfig(target_vol=target, max_weight=cap))
    assert np.all(np.abs(res.weights) <= cap + 1e-9)
    assert np.abs(res.weights).sum() <= 1.0 + 1e-9
    assert res.vol_after <= target * (1 + 1e-6)
    if not res.notes:
        assert res.vol_after == pytest.approx(target, rel=1e-6)


def _prices(n=300, seed=3):
    rng = np.random.default_rng(seed)
    rets = rng.normal(0.0005, [0.01, 0.02, 0.015], size=(n, 3))
    return pd.DataFrame(100 * np.cumprod(1 + rets, axis=0), columns=["A", "B", "C"])


def test_sizer_when_symbol_has_no_history_then_zero_weight_and_note():
    target = TargetWeights(weights={"A": 0.4, "B": 0.4, "Z": 0.2}, strategy="max_sharpe")
    out = VolTargetSizer(SizingConfig(target_vol=0.05)).size(target, prices=_prices(), snapshot=None)
    assert out.weights["Z"] == 0.0
    assert any("Z" in n for n in out.notes)
    assert out.volatility == pytest.approx(0.05, rel=1e-6)
    assert out.strategy == "max_sharpe"


def test_sizer_when_sized_then_realised_vol_of_window_equals_target():
    prices = _prices()
    target = TargetWeights(weights={"A": 0.3, "B": 0.3, "C": 0.4})
    out = VolTargetSizer(SizingConfig(target_vol=0.08, lookback=200)).size(target, prices=prices, snapshot=None)
    rets = prices.pct_change().iloc[1:].iloc[-200:].to_numpy()
    w = np.array([out.weights[s] for s in "ABC"])
    assert (rets @ w).std(ddof=1) * math.sqrt(252) == pytest.approx(0.08, rel=1e-9)
    assert portfolio_vol(w, np.cov(rets.T) * 252) == pytest.approx(0.08, rel=1e-9)
