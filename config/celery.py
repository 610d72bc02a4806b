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

import contextlib  # noqa: E402

from celery import signals  # noqa: E402
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup  # noqa: E402


class _WorkerFixup(DjangoWorkerFixup):
    """Celery's Django fix-up of a worker, but a task's start and end hand the process's database connections back to
    its pool and leave the pool open. The fix-up closed the whole pool around every task of a prefork worker (against
    a pool inherited across a fork, which the fork guard above already prevents), so every task opened a new
    PostgreSQL session: a connect, its authentication and a server process, per order."""

    def _return_connections(self) -> None:
        for conn in self._db.connections.all(initialized_only=True):
            with contextlib.suppress(*self.interface_errors):
                conn.close()  # pooled: back to the pool (which discards a broken one)

    def on_task_prerun(self, sender=None, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            self._return_connections()

    def on_task_postrun(self, sender=None, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            self._return_connections()
            self.close_cache()


@signals.import_modules.connect(sender=app, weak=False)
def _worker_fixup(**_) -> None:
    """A worker starting (its modules imported; its fix-up installed at ``worker_init``, later): ours in its place."""
    for fixup in app._fixups:
        if isinstance(fixup, DjangoFixup) and not isinstance(fixup._worker_fixup, _WorkerFixup):
            fixup.worker_fixup = _WorkerFixup(app)


# Each worker (its main process; the pool's children are summed in) and beat report their own CPU
# and memory to Redis (ops_app.resources); a clean shutdown removes the entry.


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
