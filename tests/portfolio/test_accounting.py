"""Average-cost accounting against hand-worked cases."""

from decimal import Decimal as D

import pytest

from portfolio_app.accounting import apply_fill


def test_apply_fill_when_buying_twice_then_average_cost_is_weighted():
    a = apply_fill(quantity=D(0), avg_cost=D(0), signed_qty=D(100), px=D("10.00"), commission=D("1.00"))
    b = apply_fill(quantity=a.quantity, avg_cost=a.avg_cost, signed_qty=D(300), px=D("12.00"))
    assert (a.quantity, a.avg_cost, a.cash_delta, a.realised) == (D(100), D("10.000000"), D("-1001.00"), D("0.00"))
    # (100*10 + 300*12) / 400 = 11.5
    assert (b.quantity, b.avg_cost, b.cash_delta) == (D(400), D("11.500000"), D("-3600.00"))


def test_apply_fill_when_partial_sell_then_realises_against_average_cost():
    c = apply_fill(quantity=D(400), avg_cost=D("11.5"), signed_qty=D(-150), px=D("13.25"), commission=D("0.35"))
    # (13.25 - 11.5) * 150 = 262.50; cash +1987.50 - 0.35
    assert (c.quantity, c.avg_cost, c.realised, c.cash_delta) == (D(250), D("11.5"), D("262.50"), D("1987.15"))


def test_apply_fill_when_full_close_then_flat_with_zero_cost():
    c = apply_fill(quantity=D(250), avg_cost=D("11.5"), signed_qty=D(-250), px=D("9.10"))
    assert (c.quantity, c.avg_cost, c.realised) == (D(0), D(0), D("-600.00"))


def test_apply_fill_when_flipping_through_zero_then_remainder_opens_at_fill_price():
    c = apply_fill(quantity=D(100), avg_cost=D("50"), signed_qty=D(-160), px=D("55.123457"))
    # closes 100 long: (55.123457 - 50) * 100 = 512.3457 -> 512.35 (half-even to the cent)
    assert (c.quantity, c.avg_cost, c.realised) == (D(-60), D("55.123457"), D("512.35"))
    assert c.cash_delta == D("8819.75")  # 160 * 55.123457 = 8819.75312


def test_apply_fill_when_covering_a_short_then_gain_when_price_fell():
    c = apply_fill(quantity=D(-60), avg_cost=D("55"), signed_qty=D(20), px=D("50"))
    assert (c.quantity, c.avg_cost, c.realised) == (D(-40), D("55"), D("100.00"))


def test_apply_fill_when_cash_has_half_cent_then_rounds_half_even():
    # 3 * 0.125 = 0.375 -> 0.38 (half-even: 7 is odd, rounds up); 1 * 0.125 -> 0.12
    assert apply_fill(quantity=D(0), avg_cost=D(0), signed_qty=D(3), px=D("0.125")).cash_delta == D("-0.38")
    assert apply_fill(quantity=D(0), avg_cost=D(0), signed_qty=D(1), px=D("0.125")).cash_delta == D("-0.12")


def test_apply_fill_when_zero_quantity_then_refused():
    with pytest.raises(ValueError):
        apply_fill(quantity=D(1), avg_cost=D(1), signed_qty=D(0), px=D(1))
