"""Evaluators of the resource rules: a queue's oldest task, silent processes, disk free, Redis
memory, database connections, stale backups. Same contract as ``rules``: ``(rule, probe) ->
{subject: (message, value, portfolio_id)}``, the probe's measurements from ``ops_app.resources``.
"""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone


def _param(rule, name: str, default):
    return (rule.params or {}).get(name, default)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def eval_task_age(rule, probe):
    firing = {}
    for q, st in probe.queue_stats().items():
        age = st["oldest_age_s"]
        if age is not None and age > rule.threshold:
            firing[q] = (f"Queue '{q}': oldest task waiting {_duration(age)} ({st['depth']} waiting; threshold {rule.threshold:.0f} s)",
                         round(age, 1), None)
    return firing


def eval_process_silent(rule, probe):
    firing = {}
    for p in probe.processes(float(_param(rule, "forget_after_s", 600))):
        if p["age_s"] > rule.threshold:
            firing[p["key"]] = (f"{p.get('role', '?')} {p.get('name', '?')} (pid {p.get('pid', '?')}) has not reported for "
                                f"{_duration(p['age_s'])} (threshold {rule.threshold:.0f} s)", round(p["age_s"], 1), None)
    return firing


def eval_disk_free(rule, probe):
    d = probe.disk()
    if d["free_pct"] is None or d["free_pct"] >= rule.threshold:
        return {}
    msg = f"Disk of {d['path']}: {d['free_pct']:.1f}% free ({_mb(d['free'])} of {_mb(d['total'])}; threshold {rule.threshold:.0f}%)"
    return {"data": (msg, d["free_pct"], None)}


def eval_redis_memory(rule, probe):
    m = probe.redis_memory()
    if m["pct"] is None or m["pct"] <= rule.threshold:
        return {}
    msg = f"Redis uses {_mb(m['used'])}, {m['pct']:.0f}% of its {m['max_source']} ({_mb(m['max'])}; threshold {rule.threshold:.0f}%)"
    return {"redis": (msg, m["pct"], None)}


def eval_db_connections(rule, probe):
    d = probe.db_connections()
    if not d or d["pct"] is None or d["pct"] <= rule.threshold:
        return {}  # SQLite: no connections to count
    msg = f"Database connections {d['total']} of max {d['max']} ({d['pct']:.0f}%; threshold {rule.threshold:.0f}%)"
    return {"database": (msg, d["pct"], None)}


def eval_backup_stale(rule, probe):
    """The last good backup is older than ``threshold`` x the schedule's interval; with none at all,
    counted from the first attempt, or from when the rule was made (a desk that never backed up)."""
    from ops_app.backup import backup_age
    from ops_app.models import Backup

    now = datetime.fromtimestamp(probe.now, tz=dt_timezone.utc)
    info = backup_age(now=now)
    if info["interval_s"] <= 0:
        return {}  # no schedule: backups are the operator's (cron, the database's own)
    limit = rule.threshold * info["interval_s"]
    if info["last"] is not None:
        if info["age_s"] <= limit:
            return {}
        msg = (f"Last good backup is {_duration(info['age_s'])} old ({info['last'].path}); the schedule makes one every "
               f"{_duration(info['interval_s'])}")
        return {"last": (msg, round(info["age_s"] / info["interval_s"], 2), None)}
    first = Backup.objects.order_by("started_at").values_list("started_at", flat=True).first()
    since = first or rule.created_at
    waited = (now - since).total_seconds()
    if waited <= limit:
        return {}
    failed = Backup.objects.filter(status=Backup.Status.FAILED).order_by("-started_at").first()
    why = f"; last attempt failed: {failed.error[:200]}" if failed else ""
    return {"last": (f"No good backup in the {_duration(waited)} since {since:%Y-%m-%d %H:%M} UTC{why}",
                     round(waited / info["interval_s"], 2), None)}


EVALUATORS = {
    "task_age": eval_task_age, "process_silent": eval_process_silent, "disk_free": eval_disk_free,
    "redis_memory": eval_redis_memory, "db_connections": eval_db_connections, "backup_stale": eval_backup_stale,
}
