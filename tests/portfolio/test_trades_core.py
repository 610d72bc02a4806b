"""Target weights to whole-lot trades: sells first, cash never negative, never short."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from desk.interfaces import PortfolioSnapshot, PositionSnapshot, Side, TargetWeights
from portfolio_app.trades import LotTradeBuilder, TradeError, cash_after, estimate_costs, turnover


def snapshot(cash, positions=None, long_short=False):
    positions = {s: PositionSnapshot(s, D(q), D(px), D(px)) for s, (q, px) in (positions or {}).items()}
    return PortfolioSnapshot(1, D(cash), positions, long_short=long_short)


def test_trades_when_rebalancing_two_names_then_sell_first_and_floor_buys():
    # NAV 1000 + 10 x 50 = 1500. A: 20% -> 6 shares (sell 4); B: 80% at 30 -> 40 shares.
    snap = snapshot("1000", {"A": ("10", "50")})
    trades = LotTradeBuilder().trades(TargetWeights({"A": 0.2, "B": 0.8}), snapshot=snap, lot_sizes={}, prices={"B": D(30)})
    assert [(t.symbol, t.side, t.quantity) for t in trades] == [("A", Side.SELL, D(4)), ("B", Side.BUY, D(40))]
    assert trades[1].weight_after == pytest.approx(0.8)
    assert cash_after(snap.cash, trades) == D("0.00")


def test_trades_when_costs_would_overdraw_then_buys_trimmed_to_keep_cash_positive():
    # With 10 bps the 40 shares of B leave 0 - 0.20 - 1.20 = -1.40: one share fewer fits.
    snap = snapshot("1000", {"A": ("10", "50")})
    trades = LotTradeBuilder(cost_bps=10).trades(TargetWeights({"A": 0.2, "B": 0.8}), snapshot=snap, lot_sizes={}, prices={"B": D(30)})
    assert trades[1].quantity == D(39)
    assert estimate_costs(trades, 10) == D("1.37")  # 0.20 + 1.17
    assert cash_after(snap.cash, trades, 10) == D("28.63")


def test_trades_when_lot_is_hundred_then_whole_lots_floored():
    # 10 000 x 50% / 12 = 416.7 shares -> 400 in lots of 100.
    trades = LotTradeBuilder().trades(TargetWeights({"X": 0.5}), snapshot=snapshot("10000"), lot_sizes={"X": D(100)}, prices={"X": D(12)})
    assert [(t.side, t.quantity) for t in trades] == [(Side.BUY, D(400))]


def test_trades_when_long_only_and_target_negative_then_sells_to_flat_not_short():
    snap = snapshot("0", {"A": ("7", "10")})
    trades = LotTradeBuilder().trades(TargetWeights({"A": -0.5}), snapshot=snap, lot_sizes={})
    assert [(t.side, t.quantity) for t in trades] == [(Side.SELL, D(7))]


def test_trades_when_long_short_and_target_negative_then_goes_short():
    # NAV 1000; -20% of A at 10 -> short 20 shares; proceeds credited to cash.
    snap = snapshot("1000", long_short=True)
    trades = LotTradeBuilder().trades(TargetWeights({"A": -0.2, "B": 1.2}), snapshot=snap, lot_sizes={}, prices={"A": D(10), "B": D(100)})
    assert [(t.symbol, t.side, t.quantity) for t in trades] == [("A", Side.SELL, D(20)), ("B", Side.BUY, D(12))]
    assert cash_after(snap.cash, trades) == D("0.00")


def test_trades_when_target_has_no_price_then_trade_error():
    with pytest.raises(TradeError, match="No usable price for B"):
        LotTradeBuilder().trades(TargetWeights({"B": 0.5}), snapshot=snapshot("100"), lot_sizes={})


def test_turnover_when_half_nav_traded_then_half():
    snap = snapshot("1000", {"A": ("10", "50")})
    trades = LotTradeBuilder().trades(TargetWeights({"A": 0.2, "B": 0.8}), snapshot=snap, lot_sizes={}, prices={"B": D(30)})
    assert turnover(trades, snap.nav) == pytest.approx((200 + 1200) / 1500)


# --- properties ----------------------------------------------------------------------

SYMBOLS = ["A", "B", "C", "D"]
price_st = hs.decimals(min_value=D("0.5"), max_value=D("900"), places=2)


@hs.composite
def books(draw):
    held = {s: (draw(hs.integers(0, 500)), draw(price_st)) for s in SYMBOLS if draw(hs.booleans())}
    prices = {s: draw(price_st) for s in SYMBOLS}
    raw = [draw(hs.floats(0, 1)) for _ in SYMBOLS]
    invest = draw(hs.floats(0, 1))
    total = sum(raw) or 1.0
    weights = {s: invest * r / total for s, r in zip(SYMBOLS, raw)}
    lots = {s: D(draw(hs.sampled_from([1, 1, 10, 100]))) for s in SYMBOLS}
    cash = draw(hs.decimals(min_value=D(0), max_value=D("100000"), places=2))
    bps = draw(hs.sampled_from([0, 1, 5, 25]))
    return held, prices, weights, lots, cash, bps


@settings(max_examples=300, deadline=None)
@given(books())
def test_trades_property_when_any_book_then_cash_never_negative_and_never_short(book):
    held, prices, weights, lots, cash, bps = book
    snap = PortfolioSnapshot(1, cash, {s: PositionSnapshot(s, D(q), px, px) for s, (q, px) in held.items()})
    if snap.nav <= 0:
        return
    trades = LotTradeBuilder(cost_bps=bps).trades(TargetWeights(weights), snapshot=snap, lot_sizes=lots, prices=prices)
    assert cash_after(cash, trades, bps) >= 0
    after = {s: D(q) for s, (q, _px) in held.items()}
    for t in trades:
        after[t.symbol] = after.get(t.symbol, D(0)) + t.side.sign * t.quantity
        assert t.quantity % lots[t.symbol] == 0
    assert all(q >= 0 for q in after.values())
    sides = [t.side for t in trades]
    assert sides == sorted(sides, key=lambda s: s is Side.BUY)  # sells first


@settings(max_examples=300, deadline=None)
@given(books())
def test_trades_property_when_any_book_then_each_holding_within_a_lot_of_target_or_unaffordable(book):
    held, prices, weights, lots, cash, bps = book
    snap = PortfolioSnapshot(1, cash, {s: PositionSnapshot(s, D(q), px, px) for s, (q, px) in held.items()})
    if snap.nav <= 0:
        return
    nav = cash + sum((D(q) * prices[s] for s, (q, _) in held.items()), D(0))  # valued at the trade prices
    trades = LotTradeBuilder(cost_bps=bps).trades(TargetWeights(weights), snapshot=snap, lot_sizes=lots, prices=prices)
    left = cash_after(cash, trades, bps)
    after = {s: D(q) for s, (q, _px) in held.items()}
    for t in trades:
        after[t.symbol] = after.get(t.symbol, D(0)) + t.side.sign * t.quantity
    for s in SYMBOLS:
        goal = D(repr(weights[s])) * nav / prices[s]
        gap = goal - after.get(s, D(0))
        if abs(gap) < lots[s]:
            continue
        # Short of target by a lot or more only when one more lot cannot be paid for.
        assert gap > 0
        assert left < lots[s] * prices[s] * (1 + D(bps) / 10_000)


def test_trades_when_a_reserve_rule_is_given_then_buys_fit_what_the_gate_reserves_less_what_sells_bring_in():
    from portfolio_app.account import FeeSchedule, ReserveRule

    # 10,000 cash and 20 A at 50 (NAV 11,000), all into B at 100. The gate will reserve a buy 2% (band)
    # then 5% (collar) above its price with a fee of at least 1.00, and count the sell of A as much below.
    rule = ReserveRule(fees=FeeSchedule.of([("1", "1.00")]), default_collar_pct=5.0, band_pct=2.0)
    snap = snapshot("10000", {"A": ("20", "50")})
    target = TargetWeights({"B": 1.0})

    plain = LotTradeBuilder().trades(target, snapshot=snap, lot_sizes={}, prices={"B": D(100)})
    ruled = LotTradeBuilder(reserve=rule, reserved=D("500")).trades(target, snapshot=snap, lot_sizes={}, prices={"B": D(100)})

    assert [(t.symbol, t.quantity) for t in plain] == [("A", D(20)), ("B", D(110))]
    sell, buy = ruled
    assert (sell.symbol, sell.quantity, buy.symbol) == ("A", D(20), "B")
    # 10,000 - 500 held + 20 x 46.55 (50 less 2%, less 5%) - 1.00 = 10,430.00 of room; a B reserves 107.10 + fee.
    assert rule.buy("B", buy.quantity, D(100)) <= D("10430.00") < rule.buy("B", buy.quantity + 1, D(100))
    assert buy.quantity == 97


def test_trades_when_long_short_then_the_reserve_rule_is_not_applied():
    from portfolio_app.account import ReserveRule

    snap = snapshot("10000", long_short=True)
    trades = LotTradeBuilder(reserve=ReserveRule(default_collar_pct=5.0)).trades(
        TargetWeights({"B": 1.0}), snapshot=snap, lot_sizes={}, prices={"B": D(100)})
    assert [(t.symbol, t.quantity) for t in trades] == [("B", D(100))]
