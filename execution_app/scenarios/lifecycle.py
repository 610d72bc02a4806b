"""A scenario run's lifecycle: queued → running → done, or failed.

A run that is started again (its task redelivered after a worker died, or a failed run
re-run) goes back to running; done is final.
"""

from __future__ import annotations

from desk.statemachine import TransitionTable

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
START, FINISH, FAIL = "START", "FINISH", "FAIL"

SCENARIO_RUN_TABLE = TransitionTable(
    "ScenarioRun",
    {
        QUEUED: {START: RUNNING, FAIL: FAILED},
        RUNNING: {START: RUNNING, FINISH: DONE, FAIL: FAILED},
        FAILED: {START: RUNNING, FAIL: FAILED},
    },
    terminal=frozenset({DONE}),
)
