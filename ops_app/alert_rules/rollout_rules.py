"""The rollout rules: a rollout in canary whose comparison is ready (its minimum sample and window)
fires when the canary is worse than the incumbent by more than the rule's threshold. The
evaluation that sees one firing rolls that rollout back (``rules.alert_rules_evaluate``).

Subjects are rollout ids; each evaluator returns ``{rollout id: (message, value, None)}``.
"""

from __future__ import annotations

from ops_app.models import AlertRule, Rollout
from ops_app.rollout.compare import Comparison, rollout_compare

K = AlertRule.Kind


def _canaries(probe) -> list[tuple[Rollout, Comparison]]:
    def load():
        out = []
        for r in Rollout.objects.filter(stage=Rollout.Stage.CANARY).order_by("pk"):
            c = rollout_compare(r)
            if c.ready:
                out.append((r, c))
        return out

    return probe.get("rollout:canaries", load)


def _fires(rule, probe, metric: str, scale: float, text: str, unit: str):
    firing = {}
    for r, c in _canaries(probe):
        d = c.delta(metric)
        if d is not None and d * scale > rule.threshold:
            canary, inc = getattr(c.canary, metric) * scale, (getattr(c.incumbent, metric) or 0.0) * scale
            firing[str(r.pk)] = (
                f"Rollout '{r.name}': canary {text} {canary:.1f}{unit} against the incumbent's {inc:.1f}{unit} "
                f"(+{d * scale:.1f}{unit}, over {rule.threshold:g}{unit}; {c.canary.orders} canary orders)",
                round(d * scale, 3), None)
    return firing


def eval_rollout_slippage(rule, probe):
    return _fires(rule, probe, "slippage_bps", 1.0, "slippage", " bps")


def eval_rollout_reject_rate(rule, probe):
    return _fires(rule, probe, "reject_rate", 100.0, "reject rate", "%")


def eval_rollout_risk_breaches(rule, probe):
    return _fires(rule, probe, "breaches_per_100", 1.0, "risk breaches per 100 orders", "")


def eval_rollout_tracking_error(rule, probe):
    firing = {}
    for r, c in _canaries(probe):
        if c.tracking_error_bps is not None and c.tracking_error_bps > rule.threshold:
            firing[str(r.pk)] = (f"Rollout '{r.name}': canary tracking error {c.tracking_error_bps:.0f} bps a year "
                                 f"against the incumbent (over {rule.threshold:g})", c.tracking_error_bps, None)
    return firing


EVALUATORS = {
    K.ROLLOUT_SLIPPAGE: eval_rollout_slippage, K.ROLLOUT_REJECT_RATE: eval_rollout_reject_rate,
    K.ROLLOUT_TRACKING_ERROR: eval_rollout_tracking_error, K.ROLLOUT_RISK_BREACHES: eval_rollout_risk_breaches,
}
