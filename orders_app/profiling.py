"""Opt-in cProfile of Celery tasks in a worker process (``DESK_TASK_PROFILE_DIR``).

Set the variable to a directory and every worker process profiles the tasks it runs and
writes ``tasks-<pid>.prof`` there every 50 tasks and when it exits; read them with
``python -m pstats``. Off (no cost) when the variable is unset.
"""

from __future__ import annotations

import atexit
import os

_installed = False


def install() -> None:
    global _installed
    directory = os.environ.get("DESK_TASK_PROFILE_DIR", "")
    if _installed or not directory:
        return
    _installed = True
    import cProfile

    from celery import signals

    state = {"prof": None, "pid": None, "n": 0}

    def prof():
        if state["pid"] != os.getpid():  # a forked pool child starts its own
            state.update(prof=cProfile.Profile(), pid=os.getpid(), n=0)
            atexit.register(dump)
        return state["prof"]

    def dump():
        if state["prof"] is not None and state["pid"] == os.getpid():
            os.makedirs(directory, exist_ok=True)
            state["prof"].dump_stats(os.path.join(directory, f"tasks-{os.getpid()}.prof"))

    @signals.worker_process_shutdown.connect(weak=False)
    def _exit(**_):
        dump()

    @signals.task_prerun.connect(weak=False)
    def _start(**_):
        prof().enable()

    @signals.task_postrun.connect(weak=False)
    def _stop(**_):
        p = prof()
        p.disable()
        state["n"] += 1
        if state["n"] % 50 == 0:
            dump()
