"""The real desk as subprocesses (ASGI server, Celery worker, beat) against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    user = d.get("USER") or ""
    auth = f"{user}:{d.get('PASSWORD')}@" if d.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{d['NAME']}"


def process_env(extra_env: dict | None = None) -> dict:
    """The environment of a desk process (server, worker, command) over this test run's database and Redis."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DESK_HEARTBEAT_SECONDS": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **(extra_env or {}),
    }


class LiveStack:
    """``web`` ASGI server processes (each on its own port: ``urls``; ``url`` is the first) and ``workers`` Celery
    worker processes, all on the test database and Redis, beside one beat, as ``make run`` runs them.

    ``metrics_dir``: every process writes its Prometheus metrics there (``PROMETHEUS_MULTIPROC_DIR``), emptied at start.
    ``web_procs`` / ``worker_procs``: their ``Popen``s (a test may kill one).
    """

    def __init__(self, *, beat: bool = True, worker: bool = True, extra_env: dict | None = None, fix: bool = False,
                 web: int = 1, workers: int = 1, metrics_dir: Path | None = None, task_events: bool = False):
        self.ports = [free_port() for _ in range(web)]
        self.port = self.ports[0]
        self.fix = fix
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.url = self.urls[0]
        self.procs: list[subprocess.Popen] = []
        self.workers = workers if worker else 0
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            extra_env = {**(extra_env or {}), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        self.env = process_env(extra_env)
        self.beat, self.worker = beat, worker
        self.logdir = BASE_DIR / "var" / "live-stack"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.worker_names: list[str] = []
        self.task_events = task_events  # workers send task events (-E), for a test that watches who ran what

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, env=self.env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> "LiveStack":
        py = sys.executable
        self.web_procs: list[subprocess.Popen] = []
        self.worker_procs: list[subprocess.Popen] = []
        for i, port in enumerate(self.ports):
            args = [py, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                    "--ws", "websockets", "--ws-per-message-deflate", "false", "--no-access-log"]
            self.web_procs.append(self._spawn("web" if i == 0 else f"web{i + 1}", args))
        # As the Procfile: the order flow's workers, and the control queue with a worker of its own, never behind them.
        flow = [q for q in settings.DESK_QUEUES if q != settings.DESK_CONTROL_QUEUE]
        for i in range(self.workers):
            name = f"live{self.port}-{i + 1}@%h" if i else f"live{self.port}@%h"
            self.worker_names.append(name)
            args = [py, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(flow), "--concurrency", "2",
                    "-l", "warning", "-n", name, *(["-E"] if self.task_events else [])]
            self.worker_procs.append(self._spawn("worker" if i == 0 else f"worker{i + 1}", args))
        if self.workers:
            self._spawn("control", [py, "-m", "celery", "-A", "config", "worker", "-Q", settings.DESK_CONTROL_QUEUE,
                                    "--concurrency", "1", "-l", "warning", "-n", f"control{self.port}@%h",
                                    *(["-E"] if self.task_events else [])])
        if self.fix:  # the demo's FIX venue and the gateway's session to it, as make run starts them
            import tempfile

            from ops_app.demo import FIX_VENUE, fix_venue_ensure

            fix_port = free_port()
            fix_venue_ensure(port=fix_port)
            store = Path(tempfile.mkdtemp(prefix="live-fix-"))
            self.env.update({"DESK_FIX_DIR": str(store / "gateway"), "DESK_FIX_RECONNECT_S": "1"})
            self._spawn("fixvenue", [py, "manage.py", "fix_venue", "--venue-code", FIX_VENUE[0], "--port", str(fix_port),
                                     "--store-dir", str(store / "venue")])
            self._spawn("fixgateway", [py, "manage.py", "fix_gateway"])
        if self.beat:
            self._spawn("beat", [py, "-m", "celery", "-A", "config", "beat", "-l", "warning", "--schedule", str(self.logdir / f"beat-{self.port}")])
        deadline = time.monotonic() + 60 + 20 * max(0, len(self.ports) + self.workers - 2)
        waiting = list(self.urls)
        while waiting and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(waiting[0] + "/healthz", timeout=1)  # noqa: S310 - loopback
                waiting.pop(0)
            except Exception:
                time.sleep(0.2)
        if not waiting:
            return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"live stack did not start; see {self.logdir}")

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


class Worker:
    """A ``celery worker`` subprocess (prefork) in its own process group, so that ``kill9``
    takes the main process and its pool children at once, as a crashed machine would."""

    def __init__(self, env: dict | None = None, *, name: str = "worker", queues: str = "routing,default",
                 concurrency: int = 2, log: Path | None = None):
        import tempfile
        import uuid

        self.name = f"{name}-{uuid.uuid4().hex[:6]}@%h"
        self.args = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "prefork", "-Q", queues,
                     "--concurrency", str(concurrency), "-l", "warning", "-n", self.name, "--without-gossip",
                     "--without-mingle"]
        self.env = {**os.environ, **(env or {})}
        self.log = log or Path(tempfile.gettempdir()) / f"{name}-worker-{os.getpid()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "a")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def kill9(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
