"""Scenario tasks (issue 9): thin, take ids, call one service.

Names are explicit: ``execution_app.tasks.backtest_*`` routes to the ``backtests``
queue (``CELERY_TASK_ROUTES``); ``scenario_paper_record`` is a small beat job on
the default queue.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="execution_app.tasks.backtest_run", ignore_result=True, acks_late=True,
             time_limit=3600, soft_time_limit=3500)
def backtest_run(run_id: int) -> None:
    """Run a queued backtest; safe to run twice (a DONE run is left alone)."""
    from execution_app import scenario_services

    scenario_services.backtest_execute(run_id=run_id)


@shared_task(name="execution_app.tasks.scenario_paper_record", ignore_result=True, acks_late=True,
             time_limit=60, soft_time_limit=50)
def scenario_paper_record() -> None:
    """Beat: one equity point per running paper run (today's point is updated in place)."""
    from execution_app import scenario_services

    scenario_services.paper_runs_record()
