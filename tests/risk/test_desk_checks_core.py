"""Desk-wide limits in the pure core: the check adds the portfolio's own figures to the rest of the desk's."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from desk.interfaces import ConfigError, OrderIntent, PortfolioSnapshot, PositionSnapshot, Side
from risk_app import checks as K
from risk_app.checks import DeskFigures, Limit, PreTradeRiskEngine, RiskContext, limit_utilisation, portfolio_after

T0 = datetime(2022, 3, 1, 15, 0, tzinfo=timezone.utc)


def snap(cash="1000000", positions=(), pid=7, **kw) -> PortfolioSnapshot:
    return PortfolioSnapshot(portfolio_id=pid, name="Core Equity", cash=D(cash), positions={p.symbol: p for p in positions},
                             as_of=T0, **kw)


def pos(symbol, qty, mark=100) -> PositionSnapshot:
    return PositionSnapshot(symbol, D(qty), D(mark), D(mark), "Tech")


def order(qty, symbol="AAPL", side=Side.BUY, pid=7) -> OrderIntent:
    return OrderIntent(pid, symbol, side, D(qty), reference_price=D(100), ts=T0)


def desk_ctx(**figures) -> RiskContext:
    return RiskContext(now=T0, desk={"*": DeskFigures(**figures)})


def test_check_when_desk_figures_given_then_desk_gross_is_the_rest_of_the_desk_plus_this_portfolio():
    engine = PreTradeRiskEngine([Limit(1, "Desk gross", K.MAX_GROSS_EXPOSURE, 3_670_000)])
    v = engine.check(order(21_700), snap(), context=desk_ctx(gross=2_100_000.0))
    assert not v.passed
    assert v.reasons == ["Post-trade gross exposure desk-wide USD 4,270,000 exceeds the USD 3,670,000 limit 'Desk gross'"]
    assert v.utilisation == {"1": pytest.approx(4_270_000 / 3_670_000)}


def test_check_when_no_desk_figures_then_desk_limit_reads_the_one_portfolio_as_before():
    # A backtest (or the engine alone) has one portfolio: its desk.
    engine = PreTradeRiskEngine([Limit(1, "Desk gross", K.MAX_GROSS_EXPOSURE, 3_670_000)])
    assert engine.check(order(21_700), snap()).passed


def test_check_when_desk_figures_of_the_limit_missing_then_blocks_saying_so():
    engine = PreTradeRiskEngine([Limit(1, "Desk gross", K.MAX_GROSS_EXPOSURE, 3_670_000)])
    v = engine.check(order(1), snap(), context=RiskContext(now=T0, desk={}))
    assert not v.passed and "desk-wide figures" in v.reasons[0]


def test_check_when_desk_limit_names_other_portfolios_then_it_does_not_apply():
    engine = PreTradeRiskEngine([Limit(1, "Desk gross", K.MAX_GROSS_EXPOSURE, 1, params={"portfolios": [3, 4]})])
    assert engine.check(order(100), snap(), context=RiskContext(now=T0, desk={})).passed
    assert not engine.check(order(100, pid=3), snap(pid=3), context=RiskContext(now=T0, desk={"3,4": DeskFigures()})).passed


def test_check_when_desk_net_then_over_the_desks_nav_and_worse_only_when_it_grows():
    engine = PreTradeRiskEngine([Limit(1, "Desk net", K.MAX_NET_EXPOSURE, "0.3")])
    ctx = desk_ctx(net=3_000_000.0, nav=9_000_000.0)  # the rest: 3M net on 9M
    grow = engine.check(order(1_000), snap(), context=ctx)  # 3.1M / 10M
    shrink = engine.check(order(1_000, side=Side.SELL), snap(), context=ctx)  # a short here nets the desk down
    assert not grow.passed
    assert grow.reasons == ["Post-trade net exposure desk-wide 31% of the desk's NAV exceeds the 30% limit 'Desk net'"]
    assert shrink.passed


def test_check_when_desk_order_rate_then_counts_the_desks_orders_in_the_window():
    engine = PreTradeRiskEngine([Limit(1, "Desk rate", K.MAX_ORDER_RATE, 2, params={"window_s": 1})])
    t = T0.timestamp()
    assert engine.check(order(1), snap(), context=desk_ctx(order_times=(t - 2, t - 0.5)), now=T0).passed
    v = engine.check(order(1), snap(), context=desk_ctx(order_times=(t - 0.7, t - 0.5)), now=T0)
    assert v.reasons == ["Order rate desk-wide 3 per second (over 1 s) exceeds the 2 per second limit 'Desk rate'"]


def test_check_proposal_when_desk_figures_given_then_desk_wide_end_state_measured():
    engine = PreTradeRiskEngine([Limit(1, "Desk gross", K.MAX_GROSS_EXPOSURE, 1_000_000)])
    pv = engine.check_proposal([order(3_000), order(3_000, symbol="MSFT")], snap(), context=desk_ctx(gross=500_000.0))
    assert [v.passed for v in pv.verdicts] == [False, False]
    assert pv.breaches[0].reason == "Post-trade gross exposure desk-wide USD 1,100,000 exceeds the USD 1,000,000 limit 'Desk gross'"


def test_limit_utilisation_when_desk_figures_given_then_desk_wide():
    lim = Limit(1, "Desk gross", K.MAX_GROSS_EXPOSURE, 1_000_000)
    u = limit_utilisation([lim], snap(positions=[pos("AAPL", 1_000)]), desk_ctx(gross=400_000.0))
    assert u == {"1": pytest.approx(0.5)}


def test_portfolio_after_when_orders_pass_then_gross_and_net_after_them_at_the_mark():
    from risk_app.checks import Book

    bk = Book(snap(positions=[pos("AAPL", 1_000)]), RiskContext(marks={"MSFT": 200.0}))
    gross, net = portfolio_after(bk, [order(1_500, side=Side.SELL), order(100, symbol="MSFT")])
    assert (gross, net) == (pytest.approx(50_000 + 20_000), pytest.approx(-50_000 + 20_000))


def test_validate_limit_when_portfolios_named_then_desk_scope_and_ids_only():
    assert K.validate_limit(Limit(None, "x", K.MAX_GROSS_EXPOSURE, 1, params={"portfolios": [1, 2]}))
    with pytest.raises(ConfigError):
        K.validate_limit(Limit(None, "x", K.MAX_GROSS_EXPOSURE, 1, params={"portfolios": []}))
    with pytest.raises(ConfigError):
        K.validate_limit(Limit(None, "x", K.MAX_GROSS_EXPOSURE, 1, params={"portfolios": ["a"]}))
    with pytest.raises(ConfigError):
        K.validate_limit(Limit(None, "x", K.MAX_GROSS_EXPOSURE, 1, scope=K.SCOPE_PORTFOLIO, scope_key="1",
                               params={"portfolios": [1]}))
