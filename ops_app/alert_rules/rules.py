"""The desk's own alert rules, evaluated by a beat task every ``DESK_ALERT_EVAL_SECONDS``.

Each kind has one evaluator: ``(rule, probe) -> {subject: (message, value, portfolio_id)}``,
the alerts that should be active now.  ``alert_rules_evaluate`` makes the active alerts
under ``rule:<id>:`` exactly those (``alerts_sync``): a new subject is raised once, a
changed message updates it, a subject no longer firing is resolved.  An evaluator that
fails (its data source is down) leaves that rule's alerts as they are.

The rollout kinds (``rollout_rules``) compare a canary with its incumbent; one firing rolls
that rollout back on the spot (``ops_app.rollout.stages.rollouts_roll_back_fired``), and the
rollback raises its own alert saying why.

Who can report what (docs/alerts.md):

- The task runs on a worker of the ``default`` queue, enqueued by beat through Redis.
  With Redis down no task runs: ``redis_unreachable`` is raised by the other caller,
  the Monitoring page's data endpoint (an ASGI process, ``kinds=PROBE_KINDS``).
- With the database down no alert can be stored: the outage is logged at ERROR and
  kept in Redis; when the database answers again the alert is raised *and* resolved,
  so the history says when and for how long.
- ``worker_missing`` needs one worker alive to run the task; the last worker gone is
  seen by the Monitoring page's data endpoint and by ``/readyz``, and so are the queues
  it leaves to fill (``queue_depth``, ``task_age``) and the processes gone quiet.

A rule with ``params.for_s`` fires only once its condition has held that long for a
subject (when it first held is kept in Redis, ``mon:pending:<rule id>``), like
Prometheus's ``for:``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone as dt_timezone

from django.db import connection
from django.utils import timezone

from desk import metrics
from desk.redis import get_redis
from risk_app.models import Alert
from ops_app import resources
from ops_app.models import AlertRule

from ops_app.alert_rules import resource_rules, rollout_rules, series

log = logging.getLogger(__name__)
K = AlertRule.Kind
PROBE_KINDS = (K.REDIS_UNREACHABLE, K.DATABASE_UNREACHABLE, K.WORKER_MISSING, K.QUEUE_DEPTH, K.TASK_AGE, K.PROCESS_SILENT)
OUTAGE_KEY = "mon:outage:database"
LOCK_KEY = "mon:eval:lock"
LAST_KEY = "mon:eval:last"  # when the beat task last evaluated (the Monitoring page's fallback reads it)
OPEN = ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_UPDATE", "PENDING_CANCEL")

Firing = dict[str, tuple[str, float | None, int | None]]


class Probe:
    """The measurements one evaluation shares between rules, each taken at most once."""

    def __init__(self, now: float | None = None):
        self.now = now if now is not None else time.time()
        self._cache: dict = {}

    def get(self, name: str, fn: Callable):
        if name not in self._cache:
            try:
                self._cache[name] = (True, fn())
            except Exception as exc:
                self._cache[name] = (False, exc)
        ok, value = self._cache[name]
        if not ok:
            raise value
        return value

    def window(self, minutes: int) -> dict:
        return self.get(f"window:{minutes}", lambda: series.window_stats(minutes, now=self.now))

    def workers(self, timeout: float) -> dict:
        return self.get("workers", lambda: series.workers_ping(timeout=timeout, now=self.now))

    def queues(self) -> dict:
        return self.get("queues", series.queue_depths)

    def queue_stats(self) -> dict:
        return self.get("queue_stats", lambda: resources.queue_stats(now=self.now))

    def processes(self, forget_after: float) -> list[dict]:
        return self.get("processes", lambda: resources.processes_list(now=self.now, forget_after=forget_after))

    def disk(self) -> dict:
        return self.get("disk", resources.disk_usage)

    def redis_memory(self) -> dict:
        return self.get("redis_memory", resources.redis_memory)

    def db_connections(self) -> dict | None:
        return self.get("db_connections", resources.db_connections)


def _param(rule: AlertRule, name: str, default):
    return (rule.params or {}).get(name, default)


def eval_error_rate(rule: AlertRule, probe: Probe) -> Firing:
    s = probe.window(rule.window_minutes)
    if s["requests"] < _param(rule, "min_requests", 20) or s["error_pct"] <= rule.threshold:
        return {}
    msg = f"Error rate {s['error_pct']:.1f}% over the last {rule.window_minutes} min ({s['errors']} of {s['requests']} requests)"
    return {"desk": (msg, round(s["error_pct"], 1), None)}


def eval_p99_latency(rule: AlertRule, probe: Probe) -> Firing:
    s = probe.window(rule.window_minutes)
    if s["samples"] < _param(rule, "min_requests", 20) or s["p99_ms"] is None or s["p99_ms"] <= rule.threshold:
        return {}
    msg = f"p99 request latency {s['p99_ms']:.0f} ms over the last {rule.window_minutes} min (threshold {rule.threshold:.0f} ms)"
    return {"desk": (msg, round(s["p99_ms"]), None)}


def eval_queue_depth(rule: AlertRule, probe: Probe) -> Firing:
    return {
        q: (f"Queue '{q}' has {n} messages waiting (threshold {rule.threshold:.0f})", n, None)
        for q, n in probe.queues().items() if n > rule.threshold
    }


def eval_worker_missing(rule: AlertRule, probe: Probe) -> Firing:
    workers = probe.workers(float(_param(rule, "ping_timeout", 1.0)))
    forget_after = float(_param(rule, "forget_after_s", 600))
    gone = [n for n, w in workers.items() if probe.now - w["last_seen"] > forget_after]
    series.workers_forget(gone)
    if not workers:
        return {"none": ("No Celery worker has answered a ping", None, None)}
    firing = {}
    for name, w in workers.items():
        age = probe.now - w["last_seen"]
        if name not in gone and age > rule.threshold:
            firing[name] = (f"Worker {name} has not answered for over {rule.threshold:.0f} s", None, None)
    return firing


def eval_redis_unreachable(rule: AlertRule, probe: Probe) -> Firing:
    try:
        get_redis().ping()
        return {}
    except Exception as exc:
        return {"redis": (f"Redis does not answer: {type(exc).__name__}: {exc}", None, None)}


def eval_database_unreachable(rule: AlertRule, probe: Probe) -> Firing:
    return {}  # reachable, or we could not have read the rule: outages are handled in alert_rules_evaluate


def _in_session() -> bool:
    from market_app.clock import get_clock

    clock = get_clock()
    if not hasattr(clock, "is_session"):
        return True
    now, day = clock.market_now(), clock.market_date()
    return clock.is_session(day) and clock.session_open(day) <= now < clock.session_close(day)


def eval_fills_stalled(rule: AlertRule, probe: Probe) -> Firing:
    from django.db.models import Count, Max

    from orders_app.models import Fill, Order

    if not _in_session():
        return {}
    cutoff = timezone.now() - timedelta(minutes=rule.window_minutes)
    open_by_pf = dict(
        Order.objects.filter(parent__isnull=True, status__in=OPEN, created_at__lt=cutoff)
        .values_list("portfolio_id").annotate(n=Count("id")).values_list("portfolio_id", "n")
    )
    if not open_by_pf:
        return {}
    last = dict(
        Fill.objects.filter(order__portfolio_id__in=list(open_by_pf)).values_list("order__portfolio_id")
        .annotate(t=Max("created_at")).values_list("order__portfolio_id", "t")
    )
    firing = {}
    for pid, n in open_by_pf.items():
        t = last.get(pid)
        if t is None or t < cutoff:
            since = "no fill yet" if t is None else f"last fill {int((timezone.now() - t).total_seconds() // 60)} min ago"
            firing[str(pid)] = (f"Portfolio {pid}: {n} orders open, {since}", n, pid)
    return firing


def eval_limit_utilisation(rule: AlertRule, probe: Probe) -> Firing:
    from risk_app.models import RiskLimit, RiskSnapshot

    names = dict(RiskLimit.objects.values_list("id", "name"))
    firing = {}
    for pid, pname, util in RiskSnapshot.objects.values_list("portfolio_id", "portfolio__name", "utilisation"):
        for lid, u in (util or {}).items():
            if u is not None and u * 100 > rule.threshold and str(lid).isdigit() and int(lid) in names:
                msg = f"{pname}: limit '{names[int(lid)]}' at {u * 100:.0f}% of its threshold"
                firing[f"{pid}:{lid}"] = (msg, round(u, 3), pid)
    return firing


def eval_kill_switch(rule: AlertRule, probe: Probe) -> Firing:
    from risk_app.models import TradingStateRecord

    return {
        r.scope: (f"Trading {r.state} ({r.scope})" + (f": {r.reason}" if r.reason else ""), None, r.portfolio_id)
        for r in TradingStateRecord.objects.exclude(state="ACTIVE")
    }


EVALUATORS: dict[str, Callable[[AlertRule, Probe], Firing]] = {
    K.ERROR_RATE: eval_error_rate, K.P99_LATENCY: eval_p99_latency, K.QUEUE_DEPTH: eval_queue_depth,
    K.WORKER_MISSING: eval_worker_missing, K.REDIS_UNREACHABLE: eval_redis_unreachable,
    K.DATABASE_UNREACHABLE: eval_database_unreachable, K.FILLS_STALLED: eval_fills_stalled,
    K.LIMIT_UTILISATION: eval_limit_utilisation, K.KILL_SWITCH: eval_kill_switch,
    **resource_rules.EVALUATORS, **rollout_rules.EVALUATORS,
}
PENDING_PREFIX = "mon:pending:"
HOLD_SLACK_S = 0.5


def _held(rule: AlertRule, firing: Firing, now: float) -> Firing:
    """With ``params.for_s``: only the subjects whose condition has held that long; each one's
    start is forgotten as soon as it stops holding."""
    for_s = float(_param(rule, "for_s", 0) or 0)
    if for_s <= 0:
        return firing
    key = f"{PENDING_PREFIX}{rule.pk}"
    try:
        r = get_redis()
        since = {k.decode(): float(v) for k, v in r.hgetall(key).items()}
        gone = [s for s in since if s not in firing]
        new = {s: now for s in firing if s not in since}
        pipe = r.pipeline(transaction=False)
        if gone:
            pipe.hdel(key, *gone)
        if new:
            pipe.hset(key, mapping=new)
        pipe.expire(key, 86400)
        pipe.execute()
        since.update(new)
    except Exception:
        return firing  # no memory of when it began: say it now rather than stay silent
    # Half a second of slack: evaluations come from beat at a fixed cadence with a little jitter, and
    # "held for 60 s" seen 59.99 s apart must not wait a whole further period.
    return {s: (f"{msg} for over {for_s:.0f} s", value, pid) for s, (msg, value, pid) in firing.items()
            if now - since[s] >= for_s - HOLD_SLACK_S}


def _severity(rule: AlertRule, subject: str, message: str) -> str:
    if rule.kind == K.KILL_SWITCH and " REDUCING " in f" {message} ":
        return Alert.Severity.WARNING
    return rule.severity


def _database_ok() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except Exception:
        connection.close_if_unusable_or_obsolete()
        return False


def _database_outage(now: float) -> dict:
    """The database does not answer: nothing can be stored; log it and remember when it began."""
    log.error("database unreachable: alerts cannot be stored until it answers")
    try:
        get_redis().set(OUTAGE_KEY, str(now), nx=True, ex=7 * 86400)
    except Exception:
        log.error("redis unreachable as well: the outage is only in this log")
    return {"database": "unreachable"}


def _database_recovered() -> None:
    """Raise and resolve the outage the database could not record while it lasted (its history)."""
    from risk_app.services.alerts import alert_raise, alert_resolve

    try:
        started, _ = get_redis().pipeline().get(OUTAGE_KEY).delete(OUTAGE_KEY).execute()
    except Exception:
        return
    rule = AlertRule.objects.filter(kind=K.DATABASE_UNREACHABLE, enabled=True).first()
    if started is None or rule is None:
        return
    began = datetime.fromtimestamp(float(started), tz=dt_timezone.utc)
    lasted = int((timezone.now() - began).total_seconds())
    key = f"{rule.key_prefix}database"
    alert_raise(kind=rule.kind, key=key, severity=rule.severity,
                message=f"The database was unreachable from {began:%Y-%m-%d %H:%M:%S} UTC for about {lasted} s", value=lasted)
    alert_resolve(key=key)


def alert_rules_evaluate(*, kinds: Iterable[str] | None = None, now: float | None = None, probe: Probe | None = None) -> dict:
    """Evaluate the enabled rules (of ``kinds``, default all) once; returns ``{rule name: active count}``."""
    from risk_app.services.alerts import alerts_sync

    probe = probe or Probe(now)
    if not _database_ok():
        return _database_outage(probe.now)
    _database_recovered()
    rules = AlertRule.objects.all()
    if kinds is not None:
        rules = rules.filter(kind__in=list(kinds))
    out: dict = {}
    for rule in rules:
        if not rule.enabled:
            alerts_sync(prefix=rule.key_prefix, active={})
            continue
        try:
            firing = _held(rule, EVALUATORS[rule.kind](rule, probe), probe.now)
        except Exception as exc:  # its data source is down: keep what is raised, say why in the log
            log.warning("alert rule not evaluated", extra={"rule": rule.name, "error": f"{type(exc).__name__}: {exc}"})
            out[rule.name] = "error"
            continue
        active = {
            f"{rule.key_prefix}{subject}": {
                "kind": rule.kind, "severity": _severity(rule, subject, msg), "message": msg,
                "value": value, "portfolio_id": pid,
            }
            for subject, (msg, value, pid) in firing.items()
        }
        alerts_sync(prefix=rule.key_prefix, active=active)
        out[rule.name] = len(active)
        if rule.kind in rollout_rules.EVALUATORS and firing:  # a canary worse than its incumbent goes back
            from ops_app.rollout.stages import rollouts_roll_back_fired

            rollouts_roll_back_fired(firing=firing, rule_name=rule.name)
    metrics.alerts_active.set(Alert.objects.filter(status=Alert.Status.ACTIVE).count())
    return out


def alert_rules_tick() -> dict:
    """The beat task's body: one evaluation at a time desk-wide, the queue sample, the webhook sweep."""
    from ops_app.alert_rules.webhooks import deliveries_sweep

    token = str(time.time())
    try:
        if not get_redis().set(LOCK_KEY, token, nx=True, ex=30):
            return {"skipped": "another evaluation is running"}
    except Exception:
        token = None  # Redis down: evaluate anyway (that is when it matters)
    try:
        probe = Probe()
        try:
            probe.queues()  # the charts' sample, whether or not a queue rule is enabled
        except Exception:
            pass
        result = alert_rules_evaluate(probe=probe)
        try:
            get_redis().set(LAST_KEY, str(probe.now), ex=3600)
        except Exception:
            pass
        if "database" not in result:
            deliveries_sweep()
        return result
    finally:
        if token is not None:
            try:
                if get_redis().get(LOCK_KEY) == token.encode():
                    get_redis().delete(LOCK_KEY)
            except Exception:
                pass
