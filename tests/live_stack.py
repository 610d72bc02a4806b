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


class LiveStack:
    def __init__(self, *, beat: bool = True, worker: bool = True, extra_env: dict | None = None, fix: bool = False):
        self.port = free_port()
        self.fix = fix
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.env = dict(os.environ)
        self.env.update(
            {
                "DATABASE_URL": database_url(),
                "REDIS_URL": settings.REDIS_URL,
                "DESK_HEARTBEAT_SECONDS": "1",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                **(extra_env or {}),
            }
        )
        self.beat, self.worker = beat, worker
        self.logdir = BASE_DIR / "var" / "live-stack"
        self.logdir.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.logdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.procs.append(
            subprocess.Popen(args, env=self.env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def __enter__(self) -> "LiveStack":
        py = sys.executable
        self._spawn("web", [py, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(self.port), "--ws", "websockets", "--no-access-log"])
        if self.worker:
            # As the Procfile: the control queue has a worker of its own, never behind the order flow.
            flow = [q for q in settings.DESK_QUEUES if q != settings.DESK_CONTROL_QUEUE]
            self._spawn("worker", [py, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(flow), "--concurrency", "2", "-l", "warning", "-n", f"live{self.port}@%h"])
            self._spawn("control", [py, "-m", "celery", "-A", "config", "worker", "-Q", settings.DESK_CONTROL_QUEUE, "--concurrency", "1", "-l", "warning", "-n", f"control{self.port}@%h"])
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)  # noqa: S310 - loopback
                return self
            except Exception:
                time.sleep(0.2)
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
