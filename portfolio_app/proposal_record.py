"""A proposal's deadline, risk report and reproducibility record, between the database and the core.

- ``timed_optimiser``: the portfolio's optimiser under its deadline, with its fallback
  strategy (``strategy_params``: ``deadline_seconds``, ``fallback_strategy``; defaults
  ``DESK_OPTIMISATION_DEADLINE_SECONDS``, ``DESK_OPTIMISATION_FALLBACK``), after refusing a
  universe the strategy is not allowed (``DESK_STRATEGY_SIZE_LIMITS``) or budgets naming
  what is not in it, with a ``ConfigError`` naming the field.
- ``analysis``: loads the benchmark's closes and runs ``optimisation.provenance.analyse``.
- ``proposal_reproduce``: reloads the stored window's closes, recomputes the weights and
  the risk report, and says whether they are equal or where they first differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings

from portfolio_app.optimisation import PortfolioOptimiser
from portfolio_app.optimisation.deadline import DeadlineOptimiser, fallback_for
from portfolio_app.optimisation.limits import SIZE_LIMITS, check_size
from portfolio_app.optimisation.provenance import Analysis, analyse, estimation_window, first_difference, views_from_json


def size_limits() -> dict[str, int]:
    """The core's limits, lowered where ``DESK_STRATEGY_SIZE_LIMITS`` says so (never raised)."""
    limits = dict(SIZE_LIMITS)
    for strategy, limit in dict(getattr(settings, "DESK_STRATEGY_SIZE_LIMITS", {}) or {}).items():
        limits[strategy] = min(int(limit), limits.get(strategy, int(limit)))
    return limits


def strategy_check(optimiser: PortfolioOptimiser, *, universe: list[str], sectors: dict[str, str]) -> None:
    """Where a strategy is configured: refuse a universe it may not have; ``ConfigError`` naming the field."""
    check_size(optimiser.strategy, len(universe), size_limits())
    optimiser.check_universe(universe, sectors)


def timed_optimiser(optimiser: PortfolioOptimiser, *, universe: list[str], sectors: dict[str, str]) -> DeadlineOptimiser:
    strategy_check(optimiser, universe=universe, sectors=sectors)
    p = optimiser.p
    deadline = float(p["deadline_seconds"] or settings.DESK_OPTIMISATION_DEADLINE_SECONDS)
    fallback = p["fallback_strategy"] or settings.DESK_OPTIMISATION_FALLBACK
    return DeadlineOptimiser(optimiser, fallback_for(optimiser, fallback), deadline)


def benchmark_closes(portfolio, *, since: date, before: date):
    """The portfolio's benchmark closes over the window (a Series named by its symbol), or None."""
    from market_app.selectors import price_frame

    if portfolio.benchmark_id is None:
        return None
    frame = price_frame([portfolio.benchmark_id], before=before, since=since)
    if frame.empty:
        return None
    return frame.iloc[:, 0].rename(str(frame.columns[0]))


def analysis(portfolio, timed: DeadlineOptimiser, est, *, prices, views, current, after, solution, sectors,
             since: date, before: date) -> Analysis:
    bench = benchmark_closes(portfolio, since=since, before=before)
    return analyse(
        optimiser=timed.optimiser_used, estimates=est, prices=prices, views=views, current=current, after=after,
        solution=solution, sectors=sectors, benchmark_closes=bench, benchmark=None if bench is None else str(bench.name),
        fallback=timed.fallback,
    )


@dataclass(frozen=True)
class Reproduction:
    equal: bool
    difference: str = ""  # the first difference, as "what: stored != recomputed"


def proposal_reproduce(*, proposal_id: int) -> Reproduction:
    """Recompute a proposal from its record: same inputs, same weights, same risk report?"""
    from market_app.models import Instrument
    from portfolio_app.models import RebalanceProposal
    from market_app.selectors import price_frame

    p = RebalanceProposal.objects.select_related("portfolio").get(pk=proposal_id)
    prov = p.provenance or {}
    if not prov.get("window", {}).get("first"):
        return Reproduction(False, "the proposal has no reproducibility record (computed before they were kept, or failed)")
    window = prov["window"]
    first, last = date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
    ids = list(Instrument.objects.filter(symbol__in=window["symbols"]).values_list("pk", flat=True))
    prices = price_frame(ids, before=last + timedelta(days=1), since=first)
    config = dict(prov["config"])
    optimiser = PortfolioOptimiser.from_config(config)
    views = views_from_json(prov.get("views") or {})
    current = {s: float(w) for s, w in (prov.get("current_weights") or {}).items()}
    frame = estimation_window(prices, int(optimiser.p["lookback_days"]))
    bench = None
    if prov.get("benchmark"):
        bench = benchmark_closes(p.portfolio, since=first, before=last + timedelta(days=1))
    fresh = analyse(
        optimiser=optimiser, estimates=optimiser.estimates(prices, views), prices=prices, views=views,
        current=current, after=prov.get("after_weights") or {}, solution=prov.get("weights") or {},
        sectors=dict(prov.get("sectors") or {}),
        benchmark_closes=bench, benchmark=prov.get("benchmark"), fallback=prov.get("fallback"),
    )
    if fresh.inputs_hash != p.inputs_hash:
        found = [str(c) for c in frame.columns]
        if found != list(window["symbols"]):
            return Reproduction(False, f"inputs: the window's instruments differ ({len(window['symbols'])} stored, {len(found)} now)")
        return Reproduction(False, f"inputs: hash {p.inputs_hash[:12]} != {fresh.inputs_hash[:12]} "
                                   "(the stored closes, benchmark or configuration changed since)")
    target = optimiser.optimise(prices=prices, views=views, current_weights=current, constraints={})
    recomputed = {s: float(w) for s, w in sorted(target.weights.items())}
    diff = first_difference(prov.get("weights") or {}, recomputed, "weights")
    if diff:
        return Reproduction(False, diff)
    diff = first_difference(p.risk_report or {}, fresh.risk_report, "risk_report")
    if diff:
        return Reproduction(False, diff)
    return Reproduction(True)


__all__ = ["Reproduction", "analysis", "benchmark_closes", "proposal_reproduce", "size_limits", "strategy_check",
           "timed_optimiser"]
