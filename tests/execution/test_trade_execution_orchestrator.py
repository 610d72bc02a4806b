"""The seed's orchestrator tests, real: each stage of ``TradeExecutionOrchestrator`` against the
real implementations, and the three scenarios (backtest, benchmark, live/paper) plus their comparison.

``TestTradeExecutionOrchestrator`` keeps the seed's names; the scenario tests are module functions.
"""

from __future__ import annotations

import math
import time as clock_time
from datetime import date, time
from decimal import Decimal

import pytest

from desk.clock import NEW_YORK
from execution_app.scenarios.metrics import METRIC_NAMES, metrics_table
from execution_app.scenarios import ScenarioConfig, run_backtest
from execution_app.scenarios.attribution import COMPONENTS, attribute_divergence
from execution_app.scenarios.benchmark import run_benchmark
from execution_app.scenarios.paper import demo_venues, run_paper

ADV = {"AAPL": 80e6, "AMD": 70e6, "BAC": 40e6, "BBY": 3e6, "CVX": 10e6, "GE": 7e6, "HD": 4e6, "JNJ": 7e6,
       "JPM": 11e6, "KO": 14e6, "LLY": 3e6, "MRK": 9e6, "MSFT": 30e6, "PEP": 5e6, "PFE": 30e6, "PG": 7e6,
       "RRC": 4e6, "UNH": 3e6, "WMT": 7e6, "XOM": 20e6}
PERIOD = {"start": "2022-01-03", "end": "2022-06-30", "rebalance": "monthly", "capital": "1000000"}


@pytest.fixture(scope="module")
def frames():
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    return load_sp500_dataset(), load_sp500_index().iloc[:, 0]


def test_backtesting_scenario(frames):
    closes, index = frames
    config = ScenarioConfig.from_values({**PERIOD, "strategy": "max_sharpe", "commission_bps": 5, "slippage_bps": 2,
                                         "params": {"lookback_days": 504}})

    result = run_backtest(closes, config, benchmark=index)

    # Invested at the first close, then at each month end (Jan..Jun), through risk, algo, router and MOC fills.
    assert [r["date"] for r in result.rebalances] == [
        "2022-01-03", "2022-01-31", "2022-02-28", "2022-03-31", "2022-04-29", "2022-05-31", "2022-06-30"]
    assert result.trades and all(t.qty == t.qty.to_integral_value() for t in result.trades)
    assert {t.date.isoformat() for t in result.trades} <= {r["date"] for r in result.rebalances}
    assert result.dates[0] == date(2022, 1, 3) and result.dates[-1] == date(2022, 6, 30)
    assert result.final_value == result.book_value  # the equity curve and the book agree to the cent
    assert result.total_commission > 0 and result.total_slippage > 0
    assert set(METRIC_NAMES) <= set(result.metrics)
    assert not math.isnan(result.metrics["sharpe"]) and result.metrics["max_drawdown"] < 0


def test_benchmarking_scenario(frames):
    closes, index = frames
    runs = {}
    for strategy in ("equal_weight", "min_volatility", "hrp"):
        cfg = ScenarioConfig.from_values({**PERIOD, "strategy": strategy, "commission_bps": 5})
        runs[strategy] = run_backtest(closes, cfg, benchmark=index)
    bench = run_benchmark(index, ScenarioConfig.from_values({**PERIOD, "strategy": "equal_weight"}))

    table = metrics_table({name: r.metrics for name, r in {**runs, "SPX": bench}.items()})

    assert list(table.columns) == ["equal_weight", "min_volatility", "hrp", "SPX"]
    assert table.at["beta", "SPX"] == pytest.approx(1.0) and table.at["tracking_error", "SPX"] == pytest.approx(0, abs=1e-12)
    for name in runs:
        assert 0.2 < table.at["beta", name] < 1.5 and table.at["tracking_error", name] > 0
    # Same data, same calendar: every run's equity and the benchmark share their dates.
    assert all(r.dates == bench.dates for r in runs.values())
    # The benchmark's return is the index's return over the period.
    assert bench.metrics["total_return"] == pytest.approx(index.loc["2022-06-30"] / index.loc["2022-01-03"] - 1, rel=1e-6)


def test_live_trading_scenario(frames):
    closes, index = frames
    config = ScenarioConfig.from_values({**PERIOD, "end": "2022-03-31", "strategy": "equal_weight",
                                         "commission_bps": "0.3", "slippage_bps": "1"})

    result = run_paper(closes, config, venues=demo_venues(), adv=ADV, benchmark=index)

    venues = {"LIT-A", "LIT-B", "DARK-X"}
    assert result.kind == "paper" and result.trades
    for t in result.trades:
        local = t.ts.astimezone(NEW_YORK)
        assert time(15, 30) <= local.time() <= time(16, 0)  # decided 30 min before the close, worked to it
        assert t.date.isoformat() in {r["date"] for r in result.rebalances}
        assert t.order_id.startswith("R")
    assert {t.venue for t in result.trades} <= venues and len({t.venue for t in result.trades}) >= 2
    assert result.final_value == result.book_value
    # Returns run from the first close's equity (already invested, first costs paid).
    assert len(result.equity_cents) == len(result.dates) and result.metrics["total_return"] == pytest.approx(
        int(result.equity_cents[-1]) / int(result.equity_cents[0]) - 1)


def test_compare_scenarios(frames):
    closes, index = frames
    values = {**PERIOD, "end": "2022-03-31", "strategy": "equal_weight", "commission_bps": "0.3", "slippage_bps": "1"}
    backtest = run_backtest(closes, ScenarioConfig.from_values(values), benchmark=index)
    paper = run_paper(closes, ScenarioConfig.from_values(values), venues=demo_venues(), adv=ADV, benchmark=index)
    marks = {s: Decimal(repr(round(float(closes.at[closes.index[closes.index <= "2022-03-31"][-1], s]), 6)))
             for s in closes.columns}

    att = attribute_divergence(backtest.trades, paper.trades, end_marks=marks)
    table = metrics_table({"backtest": backtest.metrics, "paper": paper.metrics})

    assert att["matched"] >= 60 and att["rows"]
    for row in att["rows"]:
        assert sum(Decimal(row[k]) for k in COMPONENTS) == Decimal(row["total"])
    # Paper decides 30 minutes before the close and pays spread and venue fees: timing and fill are non-zero.
    assert Decimal(att["totals"]["timing"]) != 0 and Decimal(att["totals"]["fill"]) != 0
    assert list(table.columns) == ["backtest", "paper"]
    assert table.at["total_return", "backtest"] != table.at["total_return", "paper"]
    # Same calendar and valuation at the closes: the curves start together.
    assert backtest.dates == paper.dates


# --- The seed's class: the orchestrator's stages against the real ones ------------------------------

from tests.signals.signal_fixtures import MARKET_NOW, instruments, market_clock, vendor_agent  # noqa: E402,F401


@pytest.fixture
def mid_2022_clock():
    """2022-06-01 11:00 New York: mid-session, with two and a half years of closes behind it."""
    from datetime import datetime, timezone

    from desk.clock import SteppedClock
    from market_app.clock import set_clock

    clock = SteppedClock(datetime(2022, 6, 1, 15, 0, tzinfo=timezone.utc))
    set_clock(clock)
    yield clock
    set_clock(None)


@pytest.mark.django_db
class TestTradeExecutionOrchestrator:
    def test_existing_signal_aggregation(self, api_for, api_client_user, desk_admin, make_user, vendor_agent, instruments, market_clock):
        """Stored signals of several agents -> the orchestrator's signal stage -> exactly the views
        the aggregation defines, handed to the optimiser. Checked by hand below."""
        from datetime import timedelta

        from desk import roles
        from signals_app import services as svc
        from desk.interfaces import Optimiser, TargetWeights
        from execution_app.orchestrator import Ports, TradeExecutionOrchestrator
        from execution_app.ports import DbSignalSource, desk_aggregator

        quant = make_user("quant", roles.API_CLIENT)
        svc.agent_create(actor=desk_admin, name="quant", type="external", owner=quant, weight="1")
        now = MARKET_NOW
        day_ago = (now - timedelta(days=5)).isoformat()  # one half-life old: decay 0.5
        vendor_items = [
            {"agent": "vendor", "symbol": "AAPL", "score": 0.6, "confidence": 1.0, "horizon_days": 10, "generated_at": now.isoformat(), "client_signal_id": "v1"},
            {"agent": "vendor", "symbol": "MSFT", "score": -0.4, "confidence": 0.5, "horizon_days": 10, "generated_at": day_ago, "client_signal_id": "v2"},
        ]
        quant_items = [
            {"agent": "quant", "symbol": "AAPL", "score": -0.2, "confidence": 0.5, "horizon_days": 10, "generated_at": now.isoformat(), "client_signal_id": "q1"},
        ]
        assert api_for(api_client_user).post("/api/v1/signals/", vendor_items, format="json").status_code == 201
        assert api_for(quant).post("/api/v1/signals/", quant_items, format="json").status_code == 201

        seen = {}

        class RecordingOptimiser(Optimiser):
            def optimise(self, *, prices, views, current_weights, constraints):
                seen.update(views)
                return TargetWeights({}, "recording")

        class Unused:
            def __getattr__(self, name):
                raise AssertionError(f"stage {name} should not run")

        orchestrator = TradeExecutionOrchestrator(Ports(
            signal_source=DbSignalSource(), aggregator=desk_aggregator(), optimiser=RecordingOptimiser(),
            sizer=Unused(), trade_builder=Unused(), risk_engine=Unused(), algos={}, router=Unused(),
            environment=Unused(), gateway=Unused(), quotes=lambda s: [],
        ))
        views = orchestrator.views(now)
        orchestrator.ports.optimiser.optimise(prices=None, views=views, current_weights={}, constraints={})

        # AAPL: vendor w=2,c=1,d=1,s=0.6 -> 1.2 ; quant w=1,c=0.5,d=1,s=-0.2 -> -0.1 ; weights 2 + 0.5
        #   score = (1.2 - 0.1) / 2.5 = 0.44 ; confidence = (2*1*1 + 1*0.5*1) / (2 + 1) = 0.8333
        # MSFT: vendor only, w=2,c=0.5,d=0.5,s=-0.4 -> score -0.4 ; confidence = 2*0.5*0.5 / 2 = 0.25
        assert set(seen) == {"AAPL", "MSFT"}
        assert seen["AAPL"].score == pytest.approx(0.44)
        assert seen["AAPL"].confidence == pytest.approx(2.5 / 3)
        assert dict(seen["AAPL"].contributions) == pytest.approx({"vendor": 0.48, "quant": -0.04})
        assert seen["MSFT"].score == pytest.approx(-0.4)
        assert seen["MSFT"].confidence == pytest.approx(0.25)
        assert dict(seen["MSFT"].contributions) == pytest.approx({"vendor": -0.4})

    @pytest.mark.live
    @pytest.mark.django_db(transaction=True)
    def test_portfolio_optimization(self, demo_small, mid_2022_clock, celery_worker_live, api_for):
        """Signals -> views -> Black-Litterman -> proposal, end to end with a real Celery worker:
        the agents' views move the target weights the way they point."""
        from ops_app.demo import DEMO_API_CLIENT, DEMO_PORTFOLIO
        from execution_app.rebalance.construction import proposal_plan
        from portfolio_app.models import Portfolio, RebalanceProposal

        core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
        core.strategy = "black_litterman"
        core.strategy_params = {**core.strategy_params, "risk_model": "ledoit_wolf"}
        core.save(update_fields=["strategy", "strategy_params"])
        baseline = proposal_plan(core, market_now=mid_2022_clock.market_now())  # no signals yet: the prior alone

        bot = api_for(core.traders.model.objects.get(username=DEMO_API_CLIENT))
        stamp = mid_2022_clock.market_now().isoformat()
        signals = [
            {"agent": "vendor-feed", "symbol": "KO", "score": 0.9, "confidence": 0.9, "horizon_days": 10, "generated_at": stamp, "client_signal_id": "bl-ko"},
            {"agent": "vendor-feed", "symbol": "XOM", "score": -0.9, "confidence": 0.9, "horizon_days": 10, "generated_at": stamp, "client_signal_id": "bl-xom"},
        ]
        assert bot.post("/api/v1/signals/", signals, format="json").status_code == 201

        trader = api_for(core.traders.get(username="trader"))
        response = trader.post(f"/api/v1/portfolios/{core.pk}/proposals/")
        assert response.status_code == 202
        pid = response.json()["id"]
        deadline = clock_time.monotonic() + 90
        while clock_time.monotonic() < deadline:
            p = RebalanceProposal.objects.get(pk=pid)
            if p.status != "DRAFT":
                break
            clock_time.sleep(0.25)
        assert p.status == "PENDING_APPROVAL", p.reason
        assert p.strategy == "black_litterman" and p.params["views"] == 2 and p.params["agents"] == 1
        with_views = p.target_weights
        assert with_views.get("KO", 0) >= baseline.target_weights.get("KO", 0)
        assert with_views.get("XOM", 0) <= baseline.target_weights.get("XOM", 0)
        assert (with_views.get("KO", 0), with_views.get("XOM", 0)) != (baseline.target_weights.get("KO", 0), baseline.target_weights.get("XOM", 0))
        assert p.trades.exists() and abs(sum(with_views.values()) - 1) < 0.02

    def test_risk_management(self, demo_small, mid_2022_clock, settings):
        """A proposal whose trades breach a limit is marked with the breach; approving it
        creates orders that are DENIED with reasons; nothing reaches a venue."""
        from django.contrib.auth import get_user_model

        from ops_app.demo import DEMO_PORTFOLIO
        from orders_app.models import Fill, Order, RoutingDecision
        from portfolio_app.models import Portfolio
        from execution_app.rebalance.approval import proposal_approve
        from execution_app.rebalance.services import proposal_create
        from risk_app.services import limit_create

        core = Portfolio.objects.get(name=DEMO_PORTFOLIO)
        users = get_user_model().objects
        limit_create(actor=users.get(username="risk"), reason="test: small tickets only", name="Tiny tickets",
                     scope="portfolio", scope_key=str(core.pk), kind="max_order_notional", threshold="50000", action="block", params={})

        p = proposal_create(portfolio_id=core.pk, trigger="test")
        assert p.status == "PENDING_APPROVAL", p.reason
        assert p.risk_verdict["passed"] is False and p.risk_verdict["blocked"] == p.trades.count() > 0
        row = p.trades.first()
        assert any("exceeds the USD 50,000 limit 'Tiny tickets'" in r for r in row.risk["reasons"]), row.risk

        proposal_approve(proposal_id=p.pk, actor=users.get(username="trader"))

        orders = Order.objects.filter(proposal=p, parent__isnull=True)
        assert orders.count() == p.trades.count()
        assert set(orders.values_list("status", flat=True)) == {"DENIED"}
        assert all("Tiny tickets" in o.reason for o in orders)
        assert not Order.objects.filter(parent__in=orders).exists()
        assert not Fill.objects.filter(order__proposal=p).exists() and not RoutingDecision.objects.exists()
