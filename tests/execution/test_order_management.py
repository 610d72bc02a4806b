"""Seed tests of issue 7: routing and execution optimisation on hand-worked numbers (pure core)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from desk.interfaces import MarketState, OrderIntent, Side, VenueQuote
from market_app.intraday import volume_profile
from orders_app.algos import ALGOS, allocate_lots
from orders_app.routing import SmartOrderRouter

OPEN = datetime(2022, 1, 3, 14, 30, tzinfo=timezone.utc)
CLOSE = datetime(2022, 1, 3, 21, 0, tzinfo=timezone.utc)


def _quote(venue, half_spread, *, k=0.1, displayed=5000, fee=0.0, up=True, mid=100.0):
    return VenueQuote(
        venue=venue,
        bid=Decimal(str(round(mid * (1 - half_spread * 1e-4), 6))),
        ask=Decimal(str(round(mid * (1 + half_spread * 1e-4), 6))),
        displayed_qty=Decimal(displayed),
        maker_fee_bps=0.0,
        taker_fee_bps=fee,
        latency_ms=1.0,
        impact_k=k,
        up=up,
    )


def _plan_cost_bps(plan, quotes, sigma, adv, ref=100.0):
    """Expected all-in cost of a buy plan {venue: qty}, bps of ref, straight from DESIGN.md's model."""
    by_name = {q.venue: q for q in quotes}
    total_q = sum(plan.values())
    cost = 0.0
    for venue, q in plan.items():
        if q == 0:
            continue
        v = by_name[venue]
        touch = float(v.ask)
        px = touch * (1 + v.impact_k * sigma * math.sqrt(q / adv)) + v.taker_fee_bps * 1e-4 * touch
        cost += q * (px - ref) / ref * 1e4
    return cost / total_q


class TestOrderManagement:
    def test_order_routing(self):
        # Arrange: A and B quote the same touch (1 bps from mid 100, no fees) but B's
        # impact k is twice A's; C is cheapest of all but down; D is up but 50 bps wide.
        # Equal marginal cost a + 1.5·b·sqrt(q) with equal a means b_A·sqrt(q_A) = b_B·sqrt(q_B),
        # so q_A / q_B = (k_B / k_A)² = 4: 1000 shares split 800 / 200, nothing to D.
        quotes = [
            _quote("A", 1.0, k=0.1),
            _quote("B", 1.0, k=0.2),
            _quote("C", 0.5, k=0.1, up=False),
            _quote("D", 50.0, k=0.1),
        ]
        router = SmartOrderRouter(daily_vol=0.02, adv=1_000_000)

        # Act
        decision = router.route(Side.BUY, Decimal(1000), quotes)

        # Assert
        split = {a.venue: a.quantity for a in decision.allocations}
        assert split == {"A": Decimal(800), "B": Decimal(200)}
        assert "C" not in decision.alternatives  # the down venue is skipped entirely
        a_alloc = next(a for a in decision.allocations if a.venue == "A")
        # 100.01 · (1 + 0.1 · 0.02 · sqrt(800 / 1e6)) = 100.015657
        assert a_alloc.expected_price == Decimal("100.015657")
        # Per share: 1 bps of spread + 100.01·0.1·0.02/1000/100·1e4·sqrt(800) = 1.565742 bps (same on B)
        assert decision.expected_cost_bps == pytest.approx(1.565742, abs=1e-6)
        # Alone, A would cost 1 + 0.020002·sqrt(1000) = 1.632519 bps; the split beat it.
        assert decision.alternatives["A"] == pytest.approx(1.632519, abs=1e-6)
        assert decision.expected_cost_bps < min(decision.alternatives.values())

    def test_execution_optimization(self):
        # Arrange
        intent = OrderIntent(portfolio_id=1, symbol="AAA", side=Side.BUY, quantity=Decimal(12_000))
        market = MarketState(now=OPEN, session_open=OPEN, session_close=CLOSE, mark=Decimal(100), adv=3_900_000)
        profile = volume_profile(390)

        # Act
        twap = ALGOS["TWAP"].schedule(intent, market, {"slices": 13})
        vwap = ALGOS["VWAP"].schedule(intent, market, {"interval_minutes": 30})
        pov = ALGOS["POV"].schedule(intent, market, {"rate": 0.01, "interval_minutes": 30})

        # Assert: every schedule sums to the parent exactly
        for schedule in (twap, vwap, pov):
            assert sum(s.quantity for s in schedule) == Decimal(12_000)
        # TWAP: 13 equal slices of 923 or 924 (12000 = 13·923 + 1), every 30 minutes
        assert [s.quantity for s in twap] == [Decimal(924)] + [Decimal(923)] * 12
        assert [s.due for s in twap] == [OPEN + timedelta(minutes=30 * i) for i in range(13)]
        # VWAP: each 30-minute bucket gets its share of the U-shaped profile
        shares = [profile[30 * i : 30 * (i + 1)].sum() for i in range(13)]
        assert [int(s.quantity) for s in vwap] == allocate_lots(12_000, shares)
        assert vwap[0].quantity > vwap[6].quantity < vwap[-1].quantity
        # POV at 1%: cumulative quantity never exceeds 1% of the market volume so far
        cum_market = 0.0
        cum_ours = 0
        for s, share in zip(pov, shares):
            cum_market += 3_900_000 * share
            cum_ours += int(s.quantity)
            assert cum_ours <= 0.01 * cum_market + 1e-6
        # The routed plan of the first VWAP slice costs no more than any single venue taking it
        quotes = [_quote("A", 1.0, k=0.1, fee=0.3), _quote("B", 0.8, k=0.3, fee=0.5), _quote("C", 1.2, k=0.05)]
        router = SmartOrderRouter(daily_vol=0.02, adv=3_900_000)
        decision = router.route(Side.BUY, vwap[0].quantity, quotes)
        routed = _plan_cost_bps({a.venue: float(a.quantity) for a in decision.allocations}, quotes, 0.02, 3_900_000)
        assert routed == pytest.approx(decision.expected_cost_bps, abs=1e-3)  # fee-on-impact term ignored
        for q in quotes:
            single = _plan_cost_bps({q.venue: float(vwap[0].quantity)}, quotes, 0.02, 3_900_000)
            assert routed <= single + 1e-9
