"""Rebalancing policies on the market clock: the beat job that asks ``should_rebalance`` per portfolio.

Re-exported by ``portfolio_app.services``. A policy fires at most once per portfolio
and market date (``RebalanceProposal.policy_date``, unique per portfolio); the drift
policy compares the current weights at the mark with the target of the last proposal
that was approved (none yet: it rebalances to get one).
"""

from __future__ import annotations

import logging
from datetime import date

from django.db.models import Max

from market_app.clock import get_clock
from desk.interfaces import ConfigError
from execution_app.rebalance import services
from market_app.marks import MissingMark
from portfolio_app.models import Portfolio, RebalanceProposal
from portfolio_app.rebalancing import should_rebalance, validate_policy
from portfolio_app.valuation import portfolio_value

log = logging.getLogger(__name__)
DECIDED = ("APPROVED", "EXECUTING", "COMPLETED")


def policy_label(policy: dict) -> str:
    p = validate_policy(policy)
    if p["kind"] == "calendar":
        return p["frequency"]
    if p["kind"] == "drift":
        return f"drift {p['band_pp']:g}pp"
    return "on demand"


def current_weights(portfolio: Portfolio, market_now) -> dict[str, float]:
    return portfolio_value(portfolio, market_now).weights


def policy_decision(portfolio: Portfolio, *, market_date: date, market_now) -> tuple[bool, str]:
    policy = portfolio.rebalance_policy or {}
    if not policy or policy.get("kind") == "on_demand":
        return False, "This portfolio rebalances only when a trader asks."
    last = RebalanceProposal.objects.filter(portfolio=portfolio, policy_date__isnull=False).aggregate(d=Max("policy_date"))["d"]
    target, current = None, {}
    if policy.get("kind") == "drift":
        decided = RebalanceProposal.objects.filter(portfolio=portfolio, status__in=DECIDED).order_by("-created_at").first()
        target = decided.target_weights if decided else None
        current = current_weights(portfolio, market_now) if target else {}
    return should_rebalance(policy, market_date=market_date, current_weights=current, target_weights=target,
                            last_rebalance_date=last)


def rebalance_policies_run(*, enqueue: bool = True) -> list[int]:
    """Beat: every portfolio whose policy fires on the market clock's date gets a proposal requested.

    Returns the ids of the proposals created. With ``enqueue=False`` they are computed
    in this process (tests, benchmarks).
    """
    clock = get_clock()
    market_now = clock.market_now()
    market_date = clock.market_date()
    created = []
    for portfolio in Portfolio.objects.exclude(rebalance_policy={}):
        try:
            fire, why = policy_decision(portfolio, market_date=market_date, market_now=market_now)
            label = policy_label(portfolio.rebalance_policy)
        except (ConfigError, ValueError, MissingMark) as e:
            log.warning("portfolio %s: rebalance policy skipped: %s", portfolio.pk, e)
            continue
        if not fire:
            continue
        p, new = services.proposal_request(
            portfolio_id=portfolio.pk, trigger=f'rebalance policy "{label}"', policy_date=market_date, enqueue=enqueue
        )
        if new:
            RebalanceProposal.objects.filter(pk=p.pk).update(params={"why": why})
            if not enqueue:
                services.proposal_compute(proposal_id=p.pk)
            created.append(p.pk)
    return created
