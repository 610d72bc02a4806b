"""The market clock's cost per call, warm (calendar already built).

Every beat job, tick and pre-trade check asks the clock for market time, so a
call must cost about what reading the wall clock costs. The reference is a bare
``datetime.now(timezone.utc)`` measured in the same run.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from desk.clock import ReplayClock, SteppedClock, WallClock, session_table

CALLS = 200_000


def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _per_call_ns(fn, calls: int = CALLS, repeats: int = 5) -> tuple[float, float]:
    """(ns per call of ``fn``, ns per call of the reference), best of ``repeats``.

    The two loops alternate within each repeat, so a busy machine slows both
    alike and the ratio stays meaningful; the best loop is the least disturbed.
    """
    best, ref = float("inf"), float("inf")
    for _ in range(repeats):
        for target in (fn, _now_utc):
            start = time.perf_counter_ns()
            for _ in range(calls):
                target()
            ns = (time.perf_counter_ns() - start) / calls
            if target is fn:
                best = min(best, ns)
            else:
                ref = min(ref, ns)
    return best, ref


def run() -> list[dict]:
    t0 = time.perf_counter()
    session_table.cache_clear()
    session_table()
    build_ms = (time.perf_counter() - t0) * 1000

    epoch = datetime.now(timezone.utc) - timedelta(seconds=600 * 100)  # 100 sessions in
    replay = ReplayClock(wall_epoch=epoch)
    wall = WallClock()
    stepped = SteppedClock()

    replay_ns, ref_ns = _per_call_ns(replay.market_now)
    wall_ns, wall_ref_ns = _per_call_ns(wall.market_now)
    progress_ns, progress_ref_ns = _per_call_ns(replay.session_progress, calls=CALLS // 4)
    step_ns, step_ref_ns = _per_call_ns(lambda: stepped.step(1.0), calls=20_000, repeats=1)

    def figure(name: str, ns: float, ref_ns: float, goal: str, note: str) -> dict:
        return {
            "name": name,
            "value": round(1e9 / ns),
            "unit": "calls/s",
            "goal": goal,
            "ref": "datetime.now(timezone.utc)",
            "ratio": round(ref_ns / ns, 3),  # share of the bare wall-clock rate
            "note": f"{ns / 1000:.2f} µs/call; ref {ref_ns / 1000:.2f} µs/call. {note}",
        }

    return [
        figure("clock.replay.market_now", replay_ns, ref_ns, ">= 250000", "wall -> session index -> interpolated time"),
        figure("clock.wall.market_now", wall_ns, wall_ref_ns, ">= 1000000", "one indirection over the reference"),
        figure("clock.replay.session_progress", progress_ns, progress_ref_ns, ">= 100000", "market_now plus a bisect"),
        figure("clock.stepped.step_1s", step_ns, step_ref_ns, ">= 100000", "trading-time step, walks sessions"),
        {
            "name": "clock.calendar_build",
            "value": round(build_ms, 1),
            "unit": "ms",
            "goal": "<= 1000",
            "note": "XNYS 1990-2030 from exchange-calendars, once per process and cached "
            "(includes the import when first in the process)",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
