"""The canary against the incumbent, over the same window: tracking error, reject rate,
slippage and risk breaches, and whether the sample is big and long enough to count.

The incumbent is the rollout's other portfolios over the canary's window; when the canary is
the whole rollout, it is the canary portfolios themselves over an equally long window just
before the canary began.  The arithmetic (``group_stats_of``, ``tracking_error_bps``) is pure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from desk.versions import config_diff

REJECTED = ("REJECTED", "DENIED")
SESSION_DAYS = 252


@dataclass
class GroupStats:
    portfolios: list[int]
    orders: int = 0
    rejected: int = 0
    filled: int = 0
    slippage_bps: float | None = None  # notional-weighted vs arrival, + = worse for the side
    breaches: int = 0  # pre-trade checks that did not pass
    sessions: list[float] = field(default_factory=list)  # NAV per session (closes), oldest first

    @property
    def reject_rate(self) -> float | None:
        return self.rejected / self.orders if self.orders else None

    @property
    def breaches_per_100(self) -> float | None:
        return 100.0 * self.breaches / self.orders if self.orders else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("sessions")
        d.update(reject_rate=self.reject_rate, breaches_per_100=self.breaches_per_100)
        return d


@dataclass
class Comparison:
    stage: str
    since: datetime | None
    until: datetime | None
    canary: GroupStats
    incumbent: GroupStats
    tracking_error_bps: float | None
    ready: bool
    not_ready_because: str = ""

    def delta(self, metric: str) -> float | None:
        """Canary minus incumbent (an incumbent with no data counts as zero)."""
        c = getattr(self.canary, metric)
        if c is None:
            return None
        i = getattr(self.incumbent, metric)
        return c - (i or 0.0)

    def as_dict(self) -> dict:
        return {
            "stage": self.stage, "since": self.since, "until": self.until, "ready": self.ready,
            "not_ready_because": self.not_ready_because, "tracking_error_bps": self.tracking_error_bps,
            "canary": self.canary.as_dict(), "incumbent": self.incumbent.as_dict(),
            "delta": {m: self.delta(m) for m in ("slippage_bps", "reject_rate", "breaches_per_100")},
        }


def slippage_bps_of(side: str, avg_px: Decimal, arrival_px: Decimal) -> float:
    sign = 1 if side == "BUY" else -1
    return float(sign * (avg_px - arrival_px) / arrival_px * 10_000)


def group_stats_of(portfolios: list[int], orders: list[tuple], breaches: int, sessions: list[float]) -> GroupStats:
    """``orders``: ``(status, side, filled_qty, avg_px, arrival_px)`` of the group's parent orders."""
    s = GroupStats(portfolios=portfolios, orders=len(orders), breaches=breaches, sessions=sessions)
    weighted = notional = 0.0
    for status, side, qty, avg_px, arrival in orders:
        s.rejected += status in REJECTED
        if qty and avg_px and arrival:
            s.filled += 1
            n = float(qty * arrival)
            weighted += slippage_bps_of(side, avg_px, arrival) * n
            notional += n
    s.slippage_bps = round(weighted / notional, 3) if notional else None
    return s


def tracking_error_bps(a: list[float], b: list[float]) -> float | None:
    """Annualised standard deviation of the difference of two NAV series' session returns, in bps."""
    n = min(len(a), len(b))
    if n < 3:
        return None
    a, b = a[-n:], b[-n:]
    diff = [(a[k] / a[k - 1] - 1) - (b[k] / b[k - 1] - 1) for k in range(1, n) if a[k - 1] and b[k - 1]]
    if len(diff) < 2:
        return None
    mean = sum(diff) / len(diff)
    var = sum((d - mean) ** 2 for d in diff) / (len(diff) - 1)
    return round(math.sqrt(var) * math.sqrt(SESSION_DAYS) * 10_000, 2)


def _group(portfolios: list[int], since: datetime, until: datetime) -> GroupStats:
    from orders_app.models import Order
    from portfolio_app.models import NavSnapshot
    from risk_app.models import RiskCheck

    orders = list(
        Order.objects.filter(portfolio_id__in=portfolios, parent__isnull=True, created_at__gte=since, created_at__lt=until)
        .values_list("status", "side", "filled_qty", "avg_px", "arrival_px")
    )
    breaches = RiskCheck.objects.filter(portfolio_id__in=portfolios, ts__gte=since, ts__lt=until, passed=False).count()
    navs: dict = {}
    for session, nav in NavSnapshot.objects.filter(portfolio_id__in=portfolios, taken_at__gte=since, taken_at__lt=until) \
            .values_list("session", "nav"):
        navs[session] = navs.get(session, 0.0) + float(nav)
    return group_stats_of(portfolios, orders, breaches, [navs[d] for d in sorted(navs)])


def rollout_compare(rollout, *, now: datetime | None = None) -> Comparison:
    """The comparison of a rollout's canary against its incumbent, now."""
    now = now or timezone.now()
    scope = sorted(rollout.portfolios.values_list("pk", flat=True))
    canary = sorted(rollout.canary.values_list("pk", flat=True))
    start = rollout.canary_started_at
    if start is None:
        return Comparison(rollout.stage, None, None, GroupStats([]), GroupStats(scope), None, False, "no canary yet")
    until = now if rollout.stage == "canary" else rollout.stage_changed_at
    c = _group(canary, start, until)
    others = [p for p in scope if p not in canary]
    inc = _group(others, start, until) if others else _group(canary, start - (until - start), start)
    minutes = (until - start).total_seconds() / 60
    why = []
    if c.orders < rollout.min_sample:
        why.append(f"{c.orders} of {rollout.min_sample} canary orders")
    if minutes < rollout.min_window_minutes:
        why.append(f"{minutes:.0f} of {rollout.min_window_minutes} minutes")
    return Comparison(rollout.stage, start, until, c, inc, tracking_error_bps(c.sessions, inc.sessions), not why,
                      "; ".join(why))


def rollout_diffs(rollout) -> list[dict]:
    """Per portfolio: the candidate against the version it ran before the rollout (or runs now)."""
    from portfolio_app.models import StrategyVersion
    from portfolio_app.strategy_versions import strategy_config_of

    out = []
    incumbents = rollout.incumbent_versions or {}
    for p in rollout.portfolios.all().order_by("pk"):
        number = incumbents.get(str(p.pk))
        base = None
        if number is not None:
            base = StrategyVersion.objects.filter(portfolio=p, number=number).values_list("config", flat=True).first()
        base = base if base is not None else strategy_config_of(p)
        candidate = {**base, **rollout.candidate}
        out.append({"portfolio_id": p.pk, "portfolio": p.name, "incumbent_version": number,
                    "diff": config_diff(base, candidate)})
    return out
