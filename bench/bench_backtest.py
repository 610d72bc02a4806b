"""Backtests through the full pipeline: signals, optimiser, whole-share trades, pre-trade risk
(wall_clock=False), the IMMEDIATE algo, the smart order router, MOC fills, average-cost book;
and the same with TWAP (5-minute slices over each rebalance day's simulated intraday path).

Pure core, no database: the skfolio S&P 500 demo closes (20 stocks) and the index. The figure is
the best of a few warm runs (the XNYS calendar and the solvers' set-up are paid once per process).
"""

from __future__ import annotations

import time

CASES = [
    ("backtest.equal_weight_monthly_20_2000_2022", "equal_weight", {}, 0.5, 3),
    ("backtest.max_sharpe_monthly_20_2000_2022", "max_sharpe", {"lookback_days": 756}, 8.0, 1),
    ("backtest.equal_weight_monthly_twap_20_2000_2022", "equal_weight", {"algo": "TWAP"}, 30.0, 1),
]


def run() -> list[dict]:
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    from execution_app.scenarios import ScenarioConfig, run_backtest

    closes, index = load_sp500_dataset(), load_sp500_index().iloc[:, 0]
    out = []
    for name, strategy, params, goal, repeat in CASES:
        config = ScenarioConfig.from_values({
            "strategy": strategy, "start": "2000-01-03", "end": "2022-12-28", "rebalance": "monthly",
            "capital": "1000000", "commission_bps": 5, "params": params,
        })
        run_backtest(closes.loc["2021-01-01":], ScenarioConfig.from_values(
            {**config.to_dict(), "start": "2022-01-03", "params": {"lookback_days": 60}}))  # warm
        best, result = float("inf"), None
        for _ in range(repeat):
            t = time.perf_counter()
            result = run_backtest(closes, config, benchmark=index)
            best = min(best, time.perf_counter() - t)
        out.append({"name": name, "value": round(best, 3), "unit": "s", "goal": f"<= {goal}",
                    "ratio": round(best / goal, 2),
                    "note": f"{len(result.rebalances)} rebalances, {len(result.trades)} fills, final {result.final_value}"})
        out.append({"name": name + ".bars_per_s", "value": round(result.bars / best), "unit": "bars/s",
                    "note": f"{result.bars} bars (sessions x stocks)"})
    return out


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    for row in run():
        print(row)
