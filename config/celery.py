"""The Celery app. Tasks are discovered in each app's ``tasks.py``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("execdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import config.observability  # noqa: E402,F401  (connects the Celery signal handlers)
from config.dbpool import install_fork_guard  # noqa: E402

# A prefork worker's children get database pools of their own, created after the fork (config/dbpool.py).
install_fork_guard()


# Each worker (its main process; the pool's children are summed in) and beat report their own CPU
# and memory to Redis (ops_app.resources); a clean shutdown removes the entry.
from celery import signals  # noqa: E402


@signals.worker_ready.connect(weak=False)
def _report_worker(sender=None, **kwargs):
    from ops_app.resources import reporter_start

    reporter_start(role="worker", name=getattr(sender, "hostname", None), children=True)


@signals.beat_init.connect(weak=False)
def _report_beat(sender=None, **kwargs):
    from ops_app.resources import reporter_start

    reporter_start(role="beat")


@signals.worker_shutdown.connect(weak=False)
def _report_stop(sender=None, **kwargs):
    from ops_app.resources import reporter_stop

    reporter_stop()


@signals.worker_process_shutdown.connect(weak=False)
def _metrics_child_dead(pid=None, **kwargs):
    # A pool child that exits (replaced, or the worker stopping): its live gauges leave the sum /metrics serves.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
