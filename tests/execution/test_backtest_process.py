"""``manage.py backtest`` as its own process, as a person runs it: no Redis needed, and none of the heavy
libraries that an equal-weight run does not use (the solvers, the event publisher's Redis client) imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# Top-level packages an equal-weight command-line backtest has no use for.
NOT_FOR_EQUAL_WEIGHT = {"cvxpy", "pypfopt", "skfolio", "redis", "channels_redis", "scipy", "empyrical"}


def _imported(stderr: str) -> set[str]:
    """Top-level package names from ``python -X importtime``'s report."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name.split(".")[0])
    return names


def test_backtest_command_when_run_as_a_process_with_redis_down_then_no_push_no_traceback_no_heavy_imports(
    demo_small, tmp_path
):
    from tests.live_stack import BASE_DIR, free_port, process_env

    env = process_env({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "DJANGO_LOG_LEVEL": "INFO"})
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "manage.py", "backtest", "--strategy", "equal_weight",
         "--start", "2022-01-03", "--end", "2022-06-30", "--commission-bps", "5", "--output", str(tmp_path / "r.json")],
        env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=300,
    )
    report = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]

    assert done.returncode == 0, "\n".join(report[-40:])
    assert "final value" in done.stdout
    assert "Traceback" not in done.stdout + "\n".join(report), "\n".join(report[-40:])
    assert "push failed" not in done.stdout + "\n".join(report)
    assert _imported(done.stderr) & NOT_FOR_EQUAL_WEIGHT == set()
    assert (tmp_path / "r.json").exists()


def test_backtest_command_when_strategy_needs_a_solver_then_the_solver_is_imported_and_the_run_stored(demo_small):
    from execution_app.models import ScenarioRun
    from tests.live_stack import BASE_DIR, free_port, process_env

    env = process_env({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "manage.py", "backtest", "--strategy", "min_volatility",
         "--start", "2022-01-03", "--end", "2022-03-31", "--params", '{"lookback_days": 252}', "--name", "solver run"],
        env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "cvxpy" in _imported(done.stderr)
    assert ScenarioRun.objects.get(name="solver run").status == ScenarioRun.Status.DONE
