"""Backtests through the full pipeline: signals, optimiser, whole-share trades, pre-trade risk
(wall_clock=False), the IMMEDIATE algo, the smart order router, MOC fills, average-cost book;
and the same with TWAP (5-minute slices over each rebalance day's simulated intraday path).

Pure core, no database: the skfolio S&P 500 demo closes (20 stocks) and the index. The figure is
the best of a few warm runs (the XNYS calendar and the solvers' set-up are paid once per process).

Whole process: ``manage.py backtest`` (the reference equal-weight run, from Django's start to the stored run) beside
backtrader's whole process on the same closes (``bench/backtrader_equal_weight.py``), each the best of
``DESK_BENCH_PROCESS_RUNS`` (default 2), both with the same environment (bytecode caches allowed, as deployed).
The desk's final value must stay the reference's: a change is reported as a failure. The warm run also fills the
closes cache (``var/cache/closes-*.npz``, ``execution_app.scenarios.closes``), as a desk's second backtest on unchanged
bars finds it; the engine row is the run's own time (``run_scenario``, as the command prints it) against backtrader's
whole process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
REFERENCE_FINAL_VALUE = "16326208.39"
REFERENCE_ARGS = ["--strategy", "equal_weight", "--start", "2000-01-03", "--end", "2022-12-28", "--rebalance", "monthly",
                  "--capital", "1000000", "--commission-bps", "5"]

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
    return out + whole_process()


def _timed_process(args: list[str], env: dict) -> tuple[float, str, float]:
    """Wall seconds, output and CPU seconds (user + system) of one process: on a busy machine the CPU time is the
    steadier figure of the two."""
    import resource

    t, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=600)
    elapsed, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout + done.stderr, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def whole_process() -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs = int(os.environ.get("DESK_BENCH_PROCESS_RUNS", "2"))
    desk_cmd = [sys.executable, "manage.py", "backtest", *REFERENCE_ARGS, "--name", "bench whole process"]
    bt_cmd = [sys.executable, str(BASE_DIR / "bench" / "backtrader_equal_weight.py")]
    _timed_process(desk_cmd, env)  # warm: bytecode written, the OS file cache filled, for both
    _timed_process(bt_cmd, env)
    desk = [_timed_process(desk_cmd, env) for _ in range(runs)]
    bt = [_timed_process(bt_cmd, env) for _ in range(runs)]
    desk_s, desk_out, _ = min(desk)
    bt_s, bt_out, _ = min(bt)
    desk_cpu, bt_cpu = min(r[2] for r in desk), min(r[2] for r in bt)
    final = re.search(r"final value ([0-9.]+) USD", desk_out)
    engine = re.search(r"\(([0-9.]+) s\)\s*$", desk_out.strip())
    if not final or final.group(1) != REFERENCE_FINAL_VALUE:
        raise RuntimeError(f"the reference backtest's final value changed: {final.group(1) if final else desk_out[-500:]}")
    from execution_app.models import ScenarioRun

    ScenarioRun.objects.filter(name="bench whole process").delete()
    engine_s = min((float(m.group(1)) for _, out, _ in desk if (m := re.search(r"\(([0-9.]+) s\)\s*$", out.strip()))),
                   default=float("nan"))
    return [
        {"name": "backtest.whole_process_engine.equal_weight_monthly_20_2000_2022", "value": round(engine_s, 2), "unit": "s",
         "goal": f"<= {bt_s / 20:.2f} (20x backtrader, goal)", "ref": "backtrader whole process",
         "ratio": round(bt_s / engine_s, 1), "note": "the desk's engine (run_scenario), best of the timed runs"},
        {"name": "backtest.whole_process.equal_weight_monthly_20_2000_2022", "value": round(desk_s, 2), "unit": "s",
         "goal": f"<= {bt_s / 5:.2f} (5x backtrader)", "ref": "backtrader whole process", "ratio": round(bt_s / desk_s, 2),
         "note": f"backtrader {bt_s:.2f} s; desk final value {final.group(1)} (engine {engine.group(1) if engine else '?'} s); "
                 f"{bt_out.strip().splitlines()[-1]}"},
        {"name": "backtest.whole_process_cpu.equal_weight_monthly_20_2000_2022", "value": round(desk_cpu, 2), "unit": "s",
         "goal": f"<= {bt_cpu / 5:.2f} (5x backtrader)", "ref": "backtrader whole process, CPU seconds",
         "ratio": round(bt_cpu / desk_cpu, 2), "note": f"backtrader {bt_cpu:.2f} CPU s; user + system time of each process"},
    ]


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    for row in run():
        print(row)
