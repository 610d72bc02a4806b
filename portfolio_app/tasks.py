"""Portfolio tasks (queue ``optimisation`` by ``CELERY_TASK_ROUTES``): thin, idempotent, take ids."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, time_limit=180, soft_time_limit=150)
def proposal_compute(portfolio_id: int | None = None, trigger: str = "on demand", proposal_id: int | None = None) -> None:
    """Compute a DRAFT proposal (``proposal_id``), or request and compute one for ``portfolio_id``.

    Safe to run twice: a proposal that is no longer DRAFT is left alone, and a
    portfolio with an open proposal gets no second one. A soft time limit lands in
    the service's catch-all and fails the proposal with a sentence.
    """
    from portfolio_app import services

    if proposal_id is not None:
        services.proposal_compute(proposal_id=proposal_id)
    elif portfolio_id is not None:
        services.proposal_create(portfolio_id=portfolio_id, trigger=trigger)


@shared_task(ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100)
def rebalance_policies_run() -> None:
    """Beat: calendar and drift policies at the market clock's date; each portfolio at most once a date."""
    from portfolio_app import services

    services.rebalance_policies_run()


@shared_task(ignore_result=True, acks_late=True, time_limit=120, soft_time_limit=100)
def proposals_expire() -> None:
    """Beat: pending proposals past their time → EXPIRED, beyond the price band → STALE."""
    from portfolio_app import services

    services.proposals_expire()
