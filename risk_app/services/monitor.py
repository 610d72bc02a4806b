"""Live risk monitoring: exposures, VaR/CVaR, drawdown and limit utilisation per portfolio.

Recomputed by beat every 30 s (``risk_app.tasks.risk_recompute_all``) and on the
first look of a page that has none yet; ``risk_recompute_schedule`` lets a caller ask
for a prompt one (debounced through Redis, after commit). Never per page view.  The result is one ``RiskSnapshot`` row per portfolio; limits
over their threshold raise alerts (critical for block-level, warning for
warn-level), updated while they stay over and resolved when they clear.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from desk import tasks as desk_tasks
from desk.clock import NEW_YORK
from desk.redis import get_redis
from risk_app import checks as K
from risk_app.checks import limit_utilisation
from risk_app.desk_book import desk_context
from risk_app.instrumentation import utilisation_set
from risk_app.measures import risk_report
from risk_app.models import Alert, RiskSnapshot
from risk_app.snapshots import snapshot_load

from .alerts import alert_resolve, alerts_sync
from .common import finite
from .pretrade import _market_now, engine_get

log = logging.getLogger(__name__)
DEBOUNCE_KEY = "risk:recompute:{pid}"
DEBOUNCE_S = 1.0
WARN_ALERT_TTL = timedelta(minutes=15)  # a pre-trade warning not seen again for this long clears


def limit_alert_key(portfolio_id: int, limit_id) -> str:
    return f"limit:{portfolio_id}:{limit_id}"


def risk_monitor_recompute(*, portfolio_id: int) -> dict:
    """Recompute one portfolio's live risk, store it, and sync its limit alerts."""
    engine = engine_get()
    now = timezone.now()
    market_now = _market_now()
    market_date = market_now.astimezone(NEW_YORK).date()
    loaded = snapshot_load(portfolio_id=portfolio_id, now=now, market_now=market_now, need_returns=True)
    snap, ctx = loaded.snapshot, loaded.context
    report = risk_report(snap, ctx.returns, sectors=ctx.sectors).to_dict()
    report = {k: (finite(v) if not isinstance(v, dict) else {kk: finite(vv) for kk, vv in v.items()}) for k, v in report.items()}
    limits = [c.limit for c in engine.limits]
    desk_ctx = desk_context(engine=engine, portfolio_id=portfolio_id, loaded=loaded)  # desk-wide limits: the desk's figure
    util = {k: finite(v) for k, v in limit_utilisation(limits, snap, desk_ctx).items()}
    names = {c.key: c for c in engine.limits}  # the id, or the name of a limit with none (the instrument restricted list)
    utilisation_set(portfolio_id, util, names)
    over = {}
    for key, u in util.items():
        c = names.get(key)
        if c is None:
            continue
        breached = (u is None) or (u >= 1.0 if c.kind == K.RESTRICTED_INSTRUMENTS else u > 1.0 + 1e-9)
        if not breached:
            continue
        level = "over" if c.kind != K.RESTRICTED_INSTRUMENTS else "holding a restricted instrument"
        pct = f"{u * 100:.0f}% of" if u is not None else "unmeasurable against"
        over[limit_alert_key(portfolio_id, c.key)] = {
            "kind": "limit_breach",
            "severity": Alert.Severity.CRITICAL if c.action == K.BLOCK else Alert.Severity.WARNING,
            "message": f"{snap.name}: {level} limit '{c.name}' ({pct} the threshold)",
            "portfolio_id": portfolio_id, "limit_id": c.id, "value": u,
        }
    with transaction.atomic():
        RiskSnapshot.objects.update_or_create(
            portfolio_id=portfolio_id, defaults={"market_date": market_date, "report": report, "utilisation": util},
        )
        counts = alerts_sync(prefix=f"limit:{portfolio_id}:", active=over)
        stale = Alert.objects.filter(
            status=Alert.Status.ACTIVE, key__startswith=f"warn:{portfolio_id}:", updated_at__lt=now - WARN_ALERT_TTL
        ).values_list("key", flat=True)
        for key in list(stale):
            alert_resolve(key=key)
    return {"report": report, "utilisation": util, "alerts": counts}


def risk_monitor_recompute_all() -> int:
    from portfolio_app.models import Portfolio

    n = 0
    for pid in Portfolio.objects.values_list("id", flat=True):
        try:
            risk_monitor_recompute(portfolio_id=pid)
            n += 1
        except Exception:  # one portfolio's bad data must not starve the others
            log.exception("risk recompute failed", extra={"portfolio_id": pid})
    return n


def risk_recompute_schedule(*, portfolio_id: int) -> None:
    """After commit, enqueue one recompute for this portfolio unless one is already due (debounced).

    orders_app calls this from ``fill_apply``; any caller may.  The task clears
    the key when it starts, so a fill committed while it runs schedules another.
    """

    def send():
        try:
            if get_redis().set(DEBOUNCE_KEY.format(pid=portfolio_id), "1", nx=True, ex=30):
                desk_tasks.enqueue("risk_app.tasks.risk_recompute", (portfolio_id,), countdown=DEBOUNCE_S)
        except Exception:  # monitoring lags by one beat at worst; a fill must never fail on it
            log.exception("risk recompute could not be scheduled", extra={"portfolio_id": portfolio_id})

    transaction.on_commit(send)


def risk_recompute_debounce_clear(portfolio_id: int) -> None:
    try:
        get_redis().delete(DEBOUNCE_KEY.format(pid=portfolio_id))
    except Exception:
        log.warning("risk recompute debounce key not cleared", extra={"portfolio_id": portfolio_id})

