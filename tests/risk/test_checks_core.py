"""The pre-trade check engine: scopes, states, warn vs block, proposals, utilisation, properties."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.interfaces import ConfigError, OrderIntent, PortfolioSnapshot, PositionSnapshot, ProposedTrade, Side, TradingState
from risk_app import checks as K
from risk_app.checks import Limit, PreTradeRiskEngine, RiskContext, intents_from_trades, limit_utilisation
from risk_app.measures import ReturnsMatrix

T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)


def snap(cash="1000000", positions=(), **kw) -> PortfolioSnapshot:
    return PortfolioSnapshot(portfolio_id=7, name="Core Equity", cash=D(cash), positions={p.symbol: p for p in positions}, **kw)


def pos(symbol, qty, mark=100, sector="Tech") -> PositionSnapshot:
    return PositionSnapshot(symbol, D(qty), D(mark), D(mark), sector)


def order(qty, symbol="AAPL", side=Side.BUY, price=100, **kw) -> OrderIntent:
    kw.setdefault("ts", T0)
    return OrderIntent(7, symbol, side, D(qty), reference_price=None if price is None else D(price), **kw)


# -- verdicts


def test_check_when_several_limits_breached_then_every_one_listed_in_limit_order():
    engine = PreTradeRiskEngine([
        Limit(1, "Max order notional (Core Equity)", K.MAX_ORDER_NOTIONAL, D("1000000")),
        Limit(2, "Max qty", K.MAX_ORDER_QTY, 50000),
        Limit(3, "Max weight", K.MAX_CONCENTRATION, 0.5),
    ])
    v = engine.check(order(24000), snap())
    assert not v.passed
    assert v.reasons == [
        "Order notional USD 2,400,000 exceeds the USD 1,000,000 limit 'Max order notional (Core Equity)'",
        "Post-trade AAPL weight 240% of NAV exceeds the 50% limit 'Max weight'",
    ]
    assert v.utilisation == {"1": pytest.approx(2.4), "2": pytest.approx(0.48), "3": pytest.approx(4.8)}


def test_check_when_only_warn_limits_breached_then_passes_with_warnings():
    engine = PreTradeRiskEngine([Limit(1, "Soft notional", K.MAX_ORDER_NOTIONAL, 1000, action=K.WARN)])
    v = engine.check(order(11), snap())
    assert v.passed and v.reasons == []
    assert v.warnings == ["Order notional USD 1,100 exceeds the USD 1,000 limit 'Soft notional'"]


def test_check_when_limit_disabled_then_ignored():
    engine = PreTradeRiskEngine([Limit(1, "Off", K.MAX_ORDER_QTY, 1, enabled=False)])
    assert engine.check(order(5), snap()).passed


def test_check_when_no_limits_then_passes_with_empty_utilisation():
    v = PreTradeRiskEngine([]).check(order(5), snap())
    assert v.passed and v.breaches == () and dict(v.utilisation) == {}


# -- scopes


@pytest.mark.parametrize(
    "scope,key,intent_kw,applies",
    [
        (K.SCOPE_PORTFOLIO, 7, {}, True),
        (K.SCOPE_PORTFOLIO, "8", {}, False),
        (K.SCOPE_INSTRUMENT, "AAPL", {}, True),
        (K.SCOPE_INSTRUMENT, "MSFT", {}, False),
        (K.SCOPE_AGENT, 3, {"agent_id": 3}, True),
        (K.SCOPE_AGENT, 3, {"agent_id": 4}, False),
        (K.SCOPE_AGENT, 3, {}, False),
    ],
)
def test_check_when_scoped_limit_then_applies_only_to_its_scope(scope, key, intent_kw, applies):
    engine = PreTradeRiskEngine([Limit(1, "Max qty", K.MAX_ORDER_QTY, 10, scope=scope, scope_key=key)])
    assert engine.check(order(11, **intent_kw), snap()).passed is not applies


# -- trading state


def test_check_when_halted_then_even_reducing_orders_denied():
    engine = PreTradeRiskEngine([])
    v = engine.check(order(10, side=Side.SELL), snap(positions=[pos("AAPL", 100)], trading_state=TradingState.HALTED))
    assert not v.passed
    assert v.reasons == ["Trading is HALTED for Core Equity; no order may pass"]
    assert v.breaches[0].kind == K.TRADING_STATE


@pytest.mark.parametrize(
    "side,qty,passes",
    [(Side.SELL, 100, True), (Side.SELL, 40, True), (Side.SELL, 101, False), (Side.BUY, 1, False)],
)
def test_check_when_reducing_then_only_orders_that_shrink_the_position_pass(side, qty, passes):
    s = snap(positions=[pos("AAPL", 100)], trading_state=TradingState.REDUCING)
    assert PreTradeRiskEngine([]).check(order(qty, side=side), s).passed is passes


def test_check_when_desk_halted_in_context_then_portfolio_active_is_overridden():
    ctx = RiskContext(desk_state=TradingState.HALTED)
    assert not PreTradeRiskEngine([], context=ctx).check(order(1), snap()).passed


# -- committed exposure and reducing orders


def test_check_when_open_orders_then_they_count_as_filled():
    engine = PreTradeRiskEngine([Limit(1, "Max weight", K.MAX_CONCENTRATION, 0.05)])
    s = snap(open_orders=(order(400),))
    assert engine.check(order(100), s).passed  # 500 * 100 = 5% at the limit
    assert not engine.check(order(101), s).passed


def test_check_when_already_over_gross_then_reducing_order_passes_and_adding_denied():
    engine = PreTradeRiskEngine([Limit(1, "Max gross", K.MAX_GROSS_EXPOSURE, 100000)])
    s = snap(cash="800000", positions=[pos("AAPL", 2000)])  # gross USD 200,000
    assert engine.check(order(500, side=Side.SELL), s).passed
    assert not engine.check(order(1, symbol="MSFT"), s).passed


def test_check_when_daily_loss_over_limit_then_reducing_sell_passes():
    engine = PreTradeRiskEngine([Limit(1, "Loss", K.MAX_DAILY_LOSS, 1000)])
    s = snap(positions=[pos("AAPL", 100)], pnl_today=D("-5000"))
    assert engine.check(order(50, side=Side.SELL), s).passed
    assert not engine.check(order(150, side=Side.SELL), s).passed  # flips to a short: not reducing


# -- fail closed, wall clock


def test_check_when_no_price_anywhere_then_priced_limits_block_saying_why():
    engine = PreTradeRiskEngine([Limit(1, "Notional", K.MAX_ORDER_NOTIONAL, 1e9), Limit(2, "Qty", K.MAX_ORDER_QTY, 1e9)])
    v = engine.check(order(1, symbol="NEW", price=None), snap())
    assert v.reasons == ["Limit 'Notional' cannot be checked for NEW: no price to value the order"]


def test_check_when_price_only_in_context_marks_then_valued_there():
    engine = PreTradeRiskEngine([Limit(1, "Notional", K.MAX_ORDER_NOTIONAL, 1000)], context=RiskContext(marks={"NEW": 50.0}))
    assert engine.check(order(20, symbol="NEW", price=None), snap()).passed
    assert not engine.check(order(21, symbol="NEW", price=None), snap()).passed


def test_check_when_var_limit_and_no_returns_then_blocks():
    v = PreTradeRiskEngine([Limit(1, "VaR", K.MAX_VAR_95, 1e9)]).check(order(1), snap())
    assert v.reasons == ["Limit 'VaR' cannot be checked for AAPL: no returns supplied"]


def test_check_when_var_parametric_then_normal_var_of_post_trade_book():
    rets = pd.DataFrame({"AAPL": np.linspace(-0.05, 0.05, 101)})
    ctx = RiskContext(returns=ReturnsMatrix.from_frame(rets))
    sd = rets["AAPL"].std(ddof=1)  # mean 0
    limit = Limit(1, "VaR", K.MAX_VAR_95, 1.6448536 * sd * 100_000 * 1.0001, params={"method": "parametric"})
    engine = PreTradeRiskEngine([limit], context=ctx)
    assert engine.check(order(1000), snap()).passed
    assert not engine.check(order(1001), snap()).passed


def test_check_when_backtest_flag_then_wall_clock_limits_skipped():
    limits = [Limit(1, "Rate", K.MAX_ORDER_RATE, 0.5), Limit(2, "Dup", K.DUPLICATE_WINDOW_S, 60)]
    s = snap(recent_order_times=(T0,), recent_orders=(order(5),))
    assert not PreTradeRiskEngine(limits).check(order(5), s).passed
    assert PreTradeRiskEngine(limits, wall_clock=False).check(order(5), s).passed
    assert PreTradeRiskEngine(limits).check(order(5), s, context=RiskContext(wall_clock=False)).passed


def test_check_when_no_time_anywhere_then_wall_clock_limit_blocks():
    v = PreTradeRiskEngine([Limit(1, "Rate", K.MAX_ORDER_RATE, 100)]).check(order(1, ts=None), snap())
    assert v.reasons == ["Limit 'Rate' cannot be checked for AAPL: no time given for a wall-clock limit"]


def test_check_when_now_passed_then_it_wins_over_intent_ts():
    engine = PreTradeRiskEngine([Limit(1, "Dup", K.DUPLICATE_WINDOW_S, 10)])
    s = snap(recent_orders=(order(5),))
    assert not engine.check(order(5), s).passed
    assert engine.check(order(5), s, now=T0 + timedelta(seconds=10)).passed


def test_check_when_duplicate_differs_in_side_or_quantity_then_passes():
    engine = PreTradeRiskEngine([Limit(1, "Dup", K.DUPLICATE_WINDOW_S, 10)])
    s = snap(positions=[pos("AAPL", 100)], recent_orders=(order(5),))
    assert engine.check(order(6), s).passed
    assert engine.check(order(5, side=Side.SELL), s).passed


def test_check_when_market_order_without_price_then_collar_not_applied():
    engine = PreTradeRiskEngine([Limit(1, "Collar", K.PRICE_COLLAR_PCT, 1)])
    assert engine.check(order(5, price=None), snap(positions=[pos("AAPL", 1)])).passed


def test_check_when_snapshot_reused_then_cached_book_gives_same_answer():
    engine = PreTradeRiskEngine([Limit(1, "Max weight", K.MAX_CONCENTRATION, 0.05)])
    s = snap()
    assert [engine.check(order(q), s).passed for q in (500, 501, 500)] == [True, False, True]


# -- proposals


def test_check_proposal_when_buys_breach_gross_then_funding_sells_pass():
    engine = PreTradeRiskEngine([Limit(1, "Max gross", K.MAX_GROSS_EXPOSURE, 500000)])
    s = snap(cash="600000", positions=[pos("MSFT", 4000)])  # gross USD 400,000
    res = engine.check_proposal([order(1000, symbol="MSFT", side=Side.SELL), order(3000)], s)
    # end state: MSFT 300,000 + AAPL 300,000 = 600,000 > 500,000; the sell shrinks gross, the buy grows it
    assert [v.passed for v in res.verdicts] == [True, False]
    assert res.verdicts[1].reasons == ["Post-trade gross exposure USD 600,000 exceeds the USD 500,000 limit 'Max gross'"]
    assert not res.passed and len(res.breaches) == 1
    assert res.post_trade["gross_pct"] == pytest.approx(0.6)
    assert res.utilisation["1"] == pytest.approx(1.2)


def test_check_proposal_when_two_buys_fit_alone_then_both_see_the_joint_position():
    engine = PreTradeRiskEngine([Limit(1, "Max weight", K.MAX_CONCENTRATION, 0.05)])
    res = engine.check_proposal([order(300), order(300)], snap())
    assert [v.passed for v in res.verdicts] == [False, False]
    assert engine.check(order(300), snap()).passed


def test_check_proposal_when_many_trades_at_once_then_rate_counts_them_in_order():
    engine = PreTradeRiskEngine([Limit(1, "Rate", K.MAX_ORDER_RATE, 3)])
    res = engine.check_proposal([order(1, symbol=s) for s in "ABCDE"], snap(recent_order_times=(T0,)))
    assert [v.passed for v in res.verdicts] == [True, True, False, False, False]
    assert res.verdicts[2].reasons == ["Order rate 4 per second (over 1 s) exceeds the 3 per second limit 'Rate'"]


def test_check_proposal_when_identical_trades_then_second_is_duplicate():
    engine = PreTradeRiskEngine([Limit(1, "Dup", K.DUPLICATE_WINDOW_S, 5)])
    res = engine.check_proposal([order(10), order(10), order(11)], snap())
    assert [v.passed for v in res.verdicts] == [True, False, True]


def test_check_proposal_when_empty_then_passes():
    res = PreTradeRiskEngine([]).check_proposal([], snap())
    assert res.passed and res.verdicts == ()


def test_intents_from_trades_when_proposal_then_priced_at_trade_price_and_zero_dropped():
    trades = [ProposedTrade("AAPL", Side.BUY, D(10), D("101.5"), 0.0, 0.01), ProposedTrade("MSFT", Side.SELL, D(0), D(1), 0.1, 0.1)]
    intents = intents_from_trades(trades, portfolio_id=7, sectors={"AAPL": "Tech"}, ts=T0)
    assert intents == [OrderIntent(7, "AAPL", Side.BUY, D(10), reference_price=D("101.5"), sector="Tech", ts=T0)]


# -- utilisation for the risk page


def test_limit_utilisation_when_snapshot_then_value_over_threshold_per_limit():
    limits = [
        Limit(1, "Gross", K.MAX_GROSS_EXPOSURE, 500000),
        Limit(2, "Weight", K.MAX_CONCENTRATION, 0.1),
        Limit(3, "Loss", K.MAX_DAILY_LOSS, 10000),
        Limit(4, "Other book", K.MAX_ORDER_QTY, 10, scope=K.SCOPE_PORTFOLIO, scope_key=8),
        Limit(5, "Restricted", K.RESTRICTED_INSTRUMENTS, 0, params={"symbols": ["XOM"]}),
        Limit(6, "VaR", K.MAX_VAR_95, 1000),
        Limit(7, "Sector", K.MAX_SECTOR_CONCENTRATION, 0.2),
        Limit(8, "Rate", K.MAX_ORDER_RATE, 4),
    ]
    s = snap(cash="850000", positions=[pos("AAPL", 1000), pos("MSFT", 500)], pnl_today=D("-2500"),
             recent_order_times=(T0, T0 - timedelta(seconds=2)), as_of=T0)
    u = limit_utilisation(limits, s)
    assert u == {"1": pytest.approx(0.3), "2": pytest.approx(1.0), "3": pytest.approx(0.25), "5": 0.0,
                 "7": pytest.approx(0.75), "8": pytest.approx(0.25)}


# -- limits as data


def test_validate_limit_when_scope_key_missing_then_config_error_names_field():
    with pytest.raises(ConfigError) as err:
        K.validate_limit(Limit(1, "x", K.MAX_ORDER_QTY, 1, scope=K.SCOPE_INSTRUMENT))
    assert err.value.field == "scope_key"
    with pytest.raises(ConfigError):
        K.validate_limit(Limit(1, "x", "nope", 1))
    with pytest.raises(ConfigError):
        K.validate_limit(Limit(1, "x", K.MAX_ORDER_QTY, -1))
    assert K.validate_limit(Limit(1, "x", K.RESTRICTED_INSTRUMENTS, 0, params={"symbols": []}))


@pytest.mark.parametrize(
    "change,loosens",
    [
        ({"threshold": 11}, True),
        ({"threshold": 9}, False),
        ({"enabled": False}, True),
        ({"action": K.WARN}, True),
    ],
)
def test_is_loosening_when_limit_changes_then_direction_by_kind(change, loosens):
    old = Limit(1, "x", K.MAX_ORDER_QTY, 10)
    assert K.is_loosening(old, dataclasses.replace(old, **change)) is loosens


def test_is_loosening_when_window_shortened_or_symbol_unrestricted_then_true():
    dup = Limit(1, "d", K.DUPLICATE_WINDOW_S, 10)
    assert K.is_loosening(dup, dataclasses.replace(dup, threshold=5))
    assert not K.is_loosening(dup, dataclasses.replace(dup, threshold=20))
    r = Limit(2, "r", K.RESTRICTED_INSTRUMENTS, 0, params={"symbols": ["A", "B"]})
    assert K.is_loosening(r, dataclasses.replace(r, params={"symbols": ["A"]}))
    assert not K.is_loosening(r, dataclasses.replace(r, params={"symbols": ["A", "B", "C"]}))
    assert K.is_loosening(r, None)


# -- properties

SYMBOLS = ("AAPL", "MSFT", "XOM")
RETURNS = ReturnsMatrix.from_frame(pd.DataFrame(np.random.default_rng(0).normal(0, 0.02, (60, 3)), columns=SYMBOLS))
CTX = RiskContext(returns=RETURNS, sectors={"AAPL": "Tech", "MSFT": "Tech", "XOM": "Energy"})
THRESHOLDS = {
    K.MAX_ORDER_QTY: (0, 2000), K.MAX_ORDER_NOTIONAL: (0, 2e5), K.PRICE_COLLAR_PCT: (0, 10),
    K.DUPLICATE_WINDOW_S: (0, 30), K.MAX_POSITION_NOTIONAL: (0, 3e5), K.MAX_GROSS_EXPOSURE: (0, 1e6),
    K.MAX_NET_EXPOSURE: (0, 1), K.MAX_LEVERAGE: (0, 1), K.MAX_CONCENTRATION: (0, 0.3),
    K.MAX_SECTOR_CONCENTRATION: (0, 0.5), K.MAX_DAILY_LOSS: (0, 5e4), K.MAX_DRAWDOWN: (0, 0.2),
    K.MAX_ORDER_RATE: (0, 5), K.MAX_VAR_95: (0, 2e4),
}

limits_st = st.lists(
    st.tuples(st.sampled_from(sorted(THRESHOLDS)), st.floats(0, 1), st.floats(1.0, 3.0)), min_size=1, max_size=8
)
intent_st = st.builds(
    lambda sym, side, qty, px: OrderIntent(7, sym, side, D(qty), reference_price=D(px), ts=T0),
    st.sampled_from(SYMBOLS), st.sampled_from(list(Side)), st.integers(1, 3000), st.sampled_from(["95", "100", "104"]),
)
snap_st = st.builds(
    lambda qa, qx, loss, n, dup: snap(
        cash="600000", positions=[pos("AAPL", qa), pos("XOM", qx, sector="Energy")], pnl_today=D(-loss),
        peak_nav=D("1100000"), recent_order_times=tuple(T0 - timedelta(seconds=0.1 * i) for i in range(n)),
        recent_orders=(OrderIntent(7, "AAPL", Side.BUY, D(dup), ts=T0 - timedelta(seconds=3)),), long_short=True,
    ),
    st.integers(-2000, 2000), st.integers(-2000, 2000), st.integers(0, 60000), st.integers(0, 6), st.integers(1, 3000),
)


def _mk(spec, scale=1.0):
    out = []
    for i, (kind, frac, _) in enumerate(spec):
        lo, hi = THRESHOLDS[kind]
        out.append(Limit(i, f"L{i}", kind, (lo + frac * (hi - lo)) * scale))
    return out


def _loosen(spec):
    """Raise every threshold except the duplicate window, whose loosening is shortening."""
    out = []
    for lim, (_, _, factor) in zip(_mk(spec), spec):
        t = lim.threshold / factor if lim.kind == K.DUPLICATE_WINDOW_S else lim.threshold * factor + 1e-6
        out.append(dataclasses.replace(lim, threshold=t))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=limits_st, intent=intent_st, s=snap_st)
def test_check_when_thresholds_loosened_then_no_pass_becomes_a_deny(spec, intent, s):
    tight = PreTradeRiskEngine(_mk(spec), context=CTX).check(intent, s)
    loose = PreTradeRiskEngine(_loosen(spec), context=CTX).check(intent, s)
    if tight.passed:
        assert loose.passed
    assert {b.limit_id for b in loose.breaches} <= {b.limit_id for b in tight.breaches}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=limits_st, intent=intent_st, s=snap_st)
def test_check_proposal_when_one_intent_then_same_verdict_as_check(spec, intent, s):
    engine = PreTradeRiskEngine(_mk(spec), context=CTX)
    one = engine.check(intent, s)
    batch = engine.check_proposal([intent], s).verdicts[0]
    assert batch.passed == one.passed
    assert [b.reason for b in batch.breaches] == [b.reason for b in one.breaches]
    assert batch.utilisation.keys() == one.utilisation.keys()
    for k, v in one.utilisation.items():
        assert batch.utilisation[k] == pytest.approx(v, rel=1e-9, abs=1e-12)
