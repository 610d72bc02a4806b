"""CPU time spent by the desk's processes during a measurement, for "CPU-ms per message / request".

``CpuMeter(pids, this_process=True, exclude_threads=...)`` sums user + system time of the
given processes and their children (uvicorn's workers), and of this process minus the
threads that play the clients (a load generator is not the desk).
"""

from __future__ import annotations

import os
import threading

import psutil


def _tree(pids) -> list[psutil.Process]:
    out = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            out.append(p)
            out.extend(p.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return out


def _cpu(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


def cpu_seconds(pids) -> float:
    """User + system CPU of these processes and all their children (a prefork worker's pool), now."""
    return sum(_cpu(p) for p in _tree(pids))


class CpuMeter:
    def __init__(self, pids=(), *, this_process: bool = False, exclude_threads=()):
        self.pids = list(pids)
        self.this_process = this_process
        self.exclude = set(exclude_threads)  # native thread ids of this process not to count
        self.seconds = 0.0

    def _read(self) -> dict:
        reading = {("p", p.pid): _cpu(p) for p in _tree(self.pids)}
        if self.this_process:
            me = psutil.Process(os.getpid())
            total = _cpu(me)
            excluded = sum(t.user_time + t.system_time for t in me.threads() if t.id in self.exclude)
            reading[("self", 0)] = total - excluded
        return reading

    def __enter__(self) -> CpuMeter:
        self._start = self._read()
        return self

    def __exit__(self, *exc) -> None:
        end = self._read()
        # A process that started during the measurement counts from zero; one that ended is lost.
        self.seconds = sum(v - self._start.get(k, 0.0) for k, v in end.items())

    def ms_per(self, n: int) -> float:
        return self.seconds * 1000 / n if n else float("nan")


def current_native_id() -> int:
    return threading.get_native_id()
