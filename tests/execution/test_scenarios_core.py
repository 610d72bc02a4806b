"""Scenario core: the backtest checked against an independent hand-written loop, no look-ahead,
the calendar, fill timing, the trade builder's incremental funding, the attribution. Pure: no database."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
import pytest

from desk.interfaces import PortfolioSnapshot, PositionSnapshot, TargetWeights
from execution_app.scenarios import PointInTimeSignalSource, ScenarioConfig, rebalance_rows, run_backtest
from execution_app.scenarios.attribution import attribute_divergence
from execution_app.scenarios.benchmark import run_benchmark
from execution_app.scenarios.ports import AgentSpec, TradeRecord
from portfolio_app.trades import LotTradeBuilder, cash_after

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def frames():
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    return load_sp500_dataset(), load_sp500_index().iloc[:, 0]


def xnys_month_ends(first: date, last: date) -> set[date]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="1990-01-01", end="2030-12-31")
    sessions = [ts.date() for ts in cal.sessions_in_range(str(first), str(last + timedelta(days=40)))]
    return {d for d, nxt in zip(sessions, sessions[1:]) if d.month != nxt.month and d <= last}


def reference_equal_weight(closes: pd.DataFrame, start: date, capital: Decimal, bps: Decimal) -> list[tuple[date, Decimal]]:
    """A plain loop: equal weight, whole shares, invested at the first close on/after start, then each
    XNYS month end; MOC fills; commission bps of notional to the cent; cash never negative (buys scaled
    down together, trimmed a share at a time from the largest, then shares handed back while cash lasts)."""
    frame = closes.round(6)
    days = [ts.date() for ts in frame.index]
    first = next(i for i, d in enumerate(days) if d >= start)
    month_ends = xnys_month_ends(days[first], days[-1])
    symbols = list(frame.columns)
    w = Decimal(1) / Decimal(len(symbols))
    rate = bps / Decimal(10_000)
    cash, held = capital, {s: Decimal(0) for s in symbols}
    values = frame.to_numpy()
    out = []

    def cost(q, p):
        n = (abs(q) * p).quantize(CENT, ROUND_HALF_EVEN)
        return n, (abs(q) * p * rate).quantize(CENT, ROUND_HALF_EVEN)

    def cash_after(deltas, px):
        c = cash
        for s, q in deltas.items():
            if q:
                n, f = cost(q, px[s])
                c += (-n if q > 0 else n) - f
        return c

    for i in range(first, len(days)):
        px = {s: Decimal(repr(float(values[i][j]))) for j, s in enumerate(symbols)}
        if i == first or days[i] in month_ends:
            nav = cash + sum(held[s] * px[s] for s in symbols)
            deltas = {}
            for s in symbols:
                gap = w * nav / px[s] - held[s]
                deltas[s] = gap.to_integral_value(ROUND_DOWN)  # whole shares, towards zero
            if cash_after(deltas, px) < 0:
                wanted = dict(deltas)
                buys = [s for s in symbols if deltas[s] > 0]
                spend = sum(deltas[s] * px[s] for s in buys)
                short = -cash_after(deltas, px)
                factor = max(Decimal(0), (spend - short * (1 + rate)) / spend)
                for s in buys:
                    deltas[s] = (deltas[s] * factor).to_integral_value(ROUND_FLOOR)
                while cash_after(deltas, px) < 0:
                    big = max((s for s in buys if deltas[s] > 0), key=lambda s: (deltas[s] * px[s], s))
                    deltas[big] -= 1
                for s in sorted(buys, key=lambda s: (-(wanted[s] - deltas[s]) * px[s], s)):
                    while deltas[s] + 1 <= wanted[s]:
                        deltas[s] += 1
                        if cash_after(deltas, px) < 0:
                            deltas[s] -= 1
                            break
            for s, q in deltas.items():  # market-on-close: the fill is the close itself
                if q:
                    n, f = cost(q, px[s])
                    cash += (-n if q > 0 else n) - f
                    held[s] += q
        out.append((days[i], (cash + sum(held[s] * px[s] for s in symbols)).quantize(CENT, ROUND_HALF_EVEN)))
    return out


def test_backtest_when_equal_weight_monthly_moc_5bps_then_matches_hand_loop_to_the_cent(frames):
    closes, index = frames
    config = ScenarioConfig.from_values({"strategy": "equal_weight", "start": "2000-01-03", "end": "2022-12-28",
                                         "rebalance": "monthly", "capital": "1000000", "commission_bps": 5})

    result = run_backtest(closes, config, benchmark=index)

    expected = reference_equal_weight(closes.loc[:"2022-12-28"], date(2000, 1, 3), Decimal("1000000"), Decimal(5))
    assert result.final_value == expected[-1][1]
    assert result.book_value == expected[-1][1]
    assert [(d, Decimal(int(c)) / 100) for d, c in zip(result.dates, result.equity_cents)] == expected
    assert len(result.rebalances) == 276 and not result.denied and not result.notes
    assert result.total_commission == sum((t.commission for t in result.trades), Decimal(0)) > 0


def test_backtest_when_rebalancing_then_sells_come_before_buys_and_cash_never_negative(frames):
    closes, _ = frames
    config = ScenarioConfig.from_values({"strategy": "min_volatility", "start": "2019-01-02", "end": "2020-12-31",
                                         "rebalance": "monthly", "commission_bps": 5, "slippage_bps": 2})
    result = run_backtest(closes, config)
    by_order = {}
    for t in result.trades:
        by_order.setdefault(t.order_id.split("-")[0], []).append(t.side)
    for sides in by_order.values():
        assert sides == sorted(sides, key=lambda s: s == "BUY")
    assert all(t.slippage > 0 for t in result.trades)
    # Cash after each rebalance = equity - holdings; equity is rebuilt from fills, so check the book instead.
    assert result.final_value == result.book_value


def test_signal_source_when_future_rows_change_then_signals_at_t_do_not(frames):
    from signals_app.agents.builtin import MeanReversionAgent, MomentumAgent
    from execution_app.scenarios import session_close

    closes, _ = frames
    window = closes.loc["2019-01-01":"2021-12-31"]
    t = date(2020, 6, 30)
    as_of = session_close(t)
    garbage = window.copy()
    garbage.loc[pd.Timestamp(t) + pd.Timedelta(days=1):] = np.random.default_rng(1).uniform(1, 999, garbage.loc[pd.Timestamp(t) + pd.Timedelta(days=1):].shape)
    agents = [AgentSpec("mom", MomentumAgent()), AgentSpec("mr", MeanReversionAgent())]

    honest = PointInTimeSignalSource(window, agents).signals(as_of)
    tampered = PointInTimeSignalSource(garbage, agents).signals(as_of)

    assert honest and [(s.agent, s.symbol, s.score) for s in honest] == [(s.agent, s.symbol, s.score) for s in tampered]
    assert all(s.generated_at <= as_of for s in honest)


def test_backtest_when_prices_after_d_change_then_trades_up_to_d_do_not(frames):
    closes, _ = frames
    frame = closes.loc["2017-01-01":"2021-12-31"]
    cut = pd.Timestamp("2021-06-30")
    tampered = frame.copy()
    tampered.loc[cut + pd.Timedelta(days=1):] *= np.random.default_rng(7).uniform(0.5, 1.5, tampered.loc[cut + pd.Timedelta(days=1):].shape)
    values = {"strategy": "black_litterman", "start": "2021-01-04", "end": "2021-12-31", "rebalance": "monthly",
              "commission_bps": 5, "params": {"agents": ["momentum", "mean_reversion"], "lookback_days": 504}}

    a = run_backtest(frame, ScenarioConfig.from_values(values))
    b = run_backtest(tampered, ScenarioConfig.from_values(values))

    before = [t.as_dict() for t in a.trades if t.date <= cut.date()]
    assert before and before == [t.as_dict() for t in b.trades if t.date <= cut.date()]
    assert [t.as_dict() for t in a.trades] != [t.as_dict() for t in b.trades]


def test_backtest_when_next_close_then_fills_dated_the_following_session(frames):
    closes, _ = frames
    config = ScenarioConfig.from_values({"strategy": "equal_weight", "start": "2022-01-03", "end": "2022-03-31",
                                         "fill": "next_close", "commission_bps": 1})
    result = run_backtest(closes, config)
    assert {t.date for t in result.trades} == {date(2022, 1, 4), date(2022, 2, 1), date(2022, 3, 1)}
    first = next(t for t in result.trades if t.symbol == "AAPL")
    assert first.price == Decimal(repr(round(float(closes.at[pd.Timestamp("2022-01-04"), "AAPL"]), 6)))
    assert "next" in result.fill_timing


def test_rebalance_rows_when_data_ends_before_month_end_then_no_december_rebalance():
    days = [d.date() for d in pd.bdate_range("2022-01-03", "2022-12-28")]
    from desk.clock import session_table

    days = [d for d in days if d in session_table().index]
    rows = rebalance_rows(days, 0, len(days) - 1, "monthly")
    got = [days[i] for i in rows]
    assert got[0] == date(2022, 1, 3) and got[1] == date(2022, 1, 31) and got[-1] == date(2022, 11, 30)
    assert len(got) == 12
    weekly = [days[i] for i in rebalance_rows(days, 0, len(days) - 1, "weekly")]
    assert date(2022, 4, 14) in weekly  # Good Friday: the week's last session is Thursday


class RecomputingLotTradeBuilder(LotTradeBuilder):
    """The reference: the funding rules with cash after *all* trades recomputed at every step."""

    def _fund_buys(self, deltas, px, lots, cash):
        from desk import money

        def remaining():
            return cash_after(cash, self._as_trades(deltas, px), self.cost_bps)

        if remaining() >= 0:
            return
        wanted = dict(deltas)
        buys = [s for s, q in deltas.items() if q > 0]
        spend = sum((deltas[s] * px[s] for s in buys), Decimal(0))
        short = -remaining()
        if spend > 0:
            factor = max(Decimal(0), (spend - short * (1 + money.bps(self.cost_bps))) / spend)
            for s in buys:
                lot = money.to_decimal(lots.get(s, 1))
                deltas[s] = (deltas[s] * factor / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
        while remaining() < 0:
            live = [s for s, q in deltas.items() if q > 0]
            if not live:
                break
            biggest = max(live, key=lambda s: (deltas[s] * px[s], s))
            deltas[biggest] -= money.to_decimal(lots.get(biggest, 1))
        for s in sorted(buys, key=lambda s: (-(wanted[s] - deltas[s]) * px[s], s)):
            lot = money.to_decimal(lots.get(s, 1))
            while deltas[s] + lot <= wanted[s]:
                deltas[s] += lot
                if remaining() < 0:
                    deltas[s] -= lot
                    break
        for s in [s for s, q in deltas.items() if not q]:
            del deltas[s]


def test_trade_builder_when_buys_need_funding_then_same_trades_as_recomputing_reference():
    rng = random.Random(3)
    for _ in range(200):
        symbols = [f"S{i}" for i in range(rng.randint(2, 12))]
        px = {s: Decimal(str(round(rng.uniform(0.5, 900), 6))) for s in symbols}
        held = {s: Decimal(rng.randint(0, 400)) for s in symbols if rng.random() < 0.6}
        snap = PortfolioSnapshot(1, Decimal(str(round(rng.uniform(0, 50_000), 2))),
                                 {s: PositionSnapshot(s, q, px[s], px[s]) for s, q in held.items()})
        raw = [rng.random() for _ in symbols]
        target = TargetWeights({s: r / sum(raw) * rng.uniform(0.95, 1.05) for s, r in zip(symbols, raw)})
        bps = rng.choice([0, 1, 5, 25])
        lots = {s: Decimal(rng.choice([1, 1, 10])) for s in symbols}
        reference = RecomputingLotTradeBuilder(bps).trades(target, snapshot=snap, lot_sizes=lots, prices=px)
        fast = LotTradeBuilder(bps).trades(target, snapshot=snap, lot_sizes=lots, prices=px)
        assert fast == reference


def test_attribution_when_paper_fills_worse_and_later_then_components_add_up():
    d1, d2 = date(2022, 3, 31), date(2022, 4, 1)
    bt = [TradeRecord(d1, "AAA", "BUY", Decimal(100), Decimal("10.00"), Decimal("0.50"), Decimal(0), Decimal("10.00"), 0.5, "R1-AAA"),
          TradeRecord(d1, "BBB", "SELL", Decimal(50), Decimal("20.00"), Decimal("0.50"), Decimal(0), Decimal("20.00"), 0.0, "R1-BBB")]
    pp = [TradeRecord(d2, "AAA", "BUY", Decimal(110), Decimal("10.20"), Decimal("1.00"), Decimal(0), Decimal("10.10"), 0.55, "P1-AAA")]

    att = attribute_divergence(bt, pp, end_marks={"AAA": Decimal("11.00"), "BBB": Decimal("19.00")})

    aaa = next(r for r in att["rows"] if r["symbol"] == "AAA")
    # timing 110 x (10.10 - 10.00) = 11; fill 110 x 0.10 - 0 = 11; fees 0.50
    assert (aaa["timing"], aaa["fill"], aaa["fees"]) == ("11.00", "11.00", "0.50")
    # 10 more shares: 10 explained by the weight (0.55 vs 0.50 of 100 shares), they rose 1.00 each: -10
    assert (aaa["signal"], aaa["sizing"]) == ("-10.00", "0.00")
    assert aaa["total"] == "12.50"
    bbb = next(r for r in att["rows"] if r["symbol"] == "BBB")
    # Only the backtest sold 50 at 20 before the fall to 19: the paper missed +50, less the backtest's fee
    assert bbb["paper_date"] is None and bbb["signal"] == "49.50"
    assert att["totals"]["total"] == "62.00" and att["matched"] == 1 and att["unmatched"] == 1


def test_benchmark_run_when_measured_against_itself_then_beta_one_and_no_tracking_error(frames):
    _, index = frames
    config = ScenarioConfig.from_values({"strategy": "equal_weight", "start": "2020-01-02", "end": "2021-12-31"})
    result = run_benchmark(index, config)
    assert result.metrics["beta"] == pytest.approx(1.0)
    assert result.metrics["tracking_error"] == pytest.approx(0.0, abs=1e-12)
    assert result.final_value == (Decimal("1000000") * Decimal(repr(float(index.loc["2021-12-31"]))) / Decimal(repr(float(index.loc["2020-01-02"])))).quantize(CENT, ROUND_HALF_EVEN)
