"""Transaction cost analysis: slippage signed so that positive is worse for the order's side."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from desk.interfaces import FillReport, LiquiditySide, Side
from orders_app.tca import analyse, slippage_bps

TS = datetime(2022, 1, 3, 15, 0, tzinfo=timezone.utc)


def _fill(n, qty, px, fee, side=Side.BUY):
    return FillReport(f"T-{n}", "P1", "XA", "AAA", side, Decimal(qty), Decimal(px), Decimal(fee), LiquiditySide.TAKER, TS)


def test_analyse_when_buy_fills_above_arrival_then_positive_slippage_and_fill_rate():
    # Arrange: 100 @ 10.10 and 300 @ 10.20 of a 500 parent; arrival 10.00, interval VWAP 10.15
    fills = [_fill(1, 100, "10.10", "1.00"), _fill(2, 300, "10.20", "1.53")]

    # Act
    report = analyse(side=Side.BUY, parent_qty=Decimal(500), arrival_price=Decimal("10"), fills=fills, interval_vwap=10.15)

    # Assert: avg (1010 + 3060) / 400 = 10.175
    assert report.avg_fill_price == Decimal("10.175000")
    assert report.filled_qty == Decimal(400)
    assert report.fill_rate == pytest.approx(0.8)
    assert report.slippage_bps_arrival == pytest.approx(175.0)  # (10.175 − 10) / 10 · 1e4
    assert report.slippage_bps_vwap == pytest.approx(24.630541871921, rel=1e-9)  # 0.025 / 10.15 · 1e4
    assert report.fees == Decimal("2.53")
    assert report.notional == Decimal("4070.00")
    assert report.fees_bps == pytest.approx(2.53 / 4070 * 1e4)
    assert report.n_fills == 2


def test_analyse_when_sell_fills_below_arrival_then_slippage_is_positive():
    fills = [_fill(1, 100, "9.90", "0.50", side=Side.SELL)]
    report = analyse(side=Side.SELL, parent_qty=Decimal(100), arrival_price=10, fills=fills)
    assert report.slippage_bps_arrival == pytest.approx(100.0)
    assert report.slippage_bps_vwap is None
    assert report.fill_rate == 1.0


def test_analyse_when_sell_fills_above_arrival_then_slippage_is_negative():
    report = analyse(side=Side.SELL, parent_qty=Decimal(100), arrival_price=10, fills=[_fill(1, 100, "10.05", "0", Side.SELL)])
    assert report.slippage_bps_arrival == pytest.approx(-50.0)


def test_analyse_when_nothing_filled_then_prices_and_slippage_are_none():
    report = analyse(side=Side.BUY, parent_qty=Decimal(100), arrival_price=10, fills=[])
    assert report.avg_fill_price is None and report.slippage_bps_arrival is None
    assert report.fill_rate == 0.0 and report.fees == Decimal(0) and report.fees_bps is None


def test_as_dict_when_serialised_then_money_is_strings():
    report = analyse(side=Side.BUY, parent_qty=Decimal(100), arrival_price=10, fills=[_fill(1, 100, "10.01", "0.25")])
    d = report.as_dict()
    assert d["avg_fill_price"] == "10.010000" and d["fees"] == "0.25" and d["side"] == "BUY"


def test_slippage_bps_when_benchmark_not_positive_then_value_error():
    with pytest.raises(ValueError):
        slippage_bps(Side.BUY, 10, 0)
