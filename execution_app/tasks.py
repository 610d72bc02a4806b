"""Execution tasks: thin, idempotent, take ids, call one service.

Queues by ``CELERY_TASK_ROUTES``: ``proposal_compute`` and ``rebalance_policies_run`` on
``optimisation``, ``backtest_*`` on ``backtests``; ``scenario_paper_record`` is a small
beat job on the default queue.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, time_limit=180, soft_time_limit=150)
def proposal_compute(portfolio_id: int | None = None, trigger: str = "on demand", proposal_id: int | None = None) -> None:
    """Compute a DRAFT proposal (``proposal_id``), or request and compute one for ``portfolio_id``.

    Safe to run twice: a proposal that is no longer DRAFT is left alone, and a
    portfolio with an open proposal gets no second one. A soft time limit lands in
    the service's catch-all and fails the proposal with a sentence.
    """
    from execution_app.rebalance import services

    if proposal_id is not None:
        services.proposal_compute(proposal_id=proposal_id)
    elif portfolio_id is not None:
        services.proposal_create(portfolio_id=portfolio_id, trigger=trigger)


@shared_task(ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100)
def rebalance_policies_run() -> None:
    """Beat: calendar and drift policies at the market clock's date; each portfolio at most once a date."""
    from execution_app.rebalance.policies import rebalance_policies_run as run

    run()


@shared_task(name="execution_app.tasks.backtest_run", ignore_result=True, acks_late=True,
             time_limit=3600, soft_time_limit=3500)
def backtest_run(run_id: int) -> None:
    """Run a queued backtest; safe to run twice (a DONE run is left alone)."""
    from execution_app.scenarios import services as scenario_services

    scenario_services.backtest_execute(run_id=run_id)


@shared_task(name="execution_app.tasks.scenario_paper_record", ignore_result=True, acks_late=True,
             time_limit=60, soft_time_limit=50)
def scenario_paper_record() -> None:
    """Beat: one equity point per running paper run (today's point is updated in place)."""
    from execution_app.scenarios import services as scenario_services

    scenario_services.paper_runs_record()
