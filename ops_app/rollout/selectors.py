"""What the Monitoring page shows of each rollout: its stage, the comparison, the diffs, the sign-off."""

from __future__ import annotations

from ops_app.models import Rollout, RolloutPromotion
from ops_app.rollout.compare import rollout_compare, rollout_diffs
from ops_app.rollout.stages import OPEN_STAGES

def rollouts_visible_to(user):
    """Risk officers and admins see every rollout; a trader, those touching their portfolios."""
    from desk import roles

    if roles.sees_all_portfolios(user):
        return Rollout.objects.all()
    if roles.is_trader(user):
        return Rollout.objects.filter(portfolios__traders=user).distinct()
    return Rollout.objects.none()


METRICS = (
    ("slippage_bps", "Slippage vs arrival (bps)", 1.0),
    ("reject_rate", "Reject rate (%)", 100.0),
    ("breaches_per_100", "Risk breaches / 100 orders", 1.0),
)


def rollout_rows(user, limit: int = 10) -> list[dict]:
    """The open rollouts the user may see, then the latest ended ones, each with what the page needs."""
    visible = rollouts_visible_to(user).prefetch_related("portfolios", "canary")
    rollouts = list(visible.filter(stage__in=OPEN_STAGES)) + list(visible.exclude(stage__in=OPEN_STAGES)[:limit])
    rows = []
    for r in rollouts[:limit]:
        c = rollout_compare(r)
        canary = {p.pk for p in r.canary.all()}
        metrics = []
        for key, label, scale in METRICS:
            cv, iv, d = getattr(c.canary, key), getattr(c.incumbent, key), c.delta(key)
            metrics.append({"key": key, "label": label, "canary": None if cv is None else cv * scale,
                            "incumbent": None if iv is None else iv * scale, "delta": None if d is None else d * scale})
        shadow = {}
        for run in r.shadow_runs.select_related("portfolio").order_by("-created_at")[:50]:
            shadow.setdefault(run.portfolio_id, run)
        rows.append({
            "rollout": r, "comparison": c, "metrics": metrics, "diffs": rollout_diffs(r),
            "portfolios": [(p, p.pk in canary) for p in sorted(r.portfolios.all(), key=lambda p: p.pk)],
            "pending": r.promotions.filter(status=RolloutPromotion.Status.PENDING).select_related("requested_by").first(),
            "decided": list(r.promotions.exclude(status=RolloutPromotion.Status.PENDING).select_related("requested_by", "decided_by")[:5]),
            "shadow_runs": list(shadow.values()),
            "open": r.stage in OPEN_STAGES,
        })
    return rows
