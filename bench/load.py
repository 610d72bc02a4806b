"""`make load`: start the desk (2 uvicorn workers, a Celery worker, beat) on the configured
database, then run locust headless (its own venv, .venv-load) for LOAD_SECONDS at LOAD_USERS × 5
requests/s, and print throughput, p50/p99 and errors per endpoint (bench/results/load.json)."""

from __future__ import annotations

import csv
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE.parent


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from market_app.clock import get_clock
    from ops_app.demo import DEMO_API_CLIENT, DEMO_PORTFOLIO, demo_password
    from portfolio_app.models import Portfolio

    users = get_user_model().objects
    env = dict(os.environ)
    env.update({
        "LOAD_API_TOKEN": Token.objects.get_or_create(user=users.get(username=DEMO_API_CLIENT))[0].key,
        "LOAD_TRADER_TOKEN": Token.objects.get_or_create(user=users.get(username="trader"))[0].key,
        "LOAD_PASSWORD": demo_password(),
        "LOAD_PORTFOLIO": str(Portfolio.objects.get(name=DEMO_PORTFOLIO).pk),
        "LOAD_MARKET_TIME": get_clock().market_now().isoformat(),
        "DJANGO_LOG_LEVEL": "WARNING",
        "DESK_API_RATE": "100000/min",
        "DESK_LOGIN_THROTTLE": "false",
        # As deployed (docs/deployment.md): DEBUG off, static files collected; plain HTTP on loopback.
        "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_HSTS_SECONDS": "0",
    })
    port = int(os.environ.get("LOAD_PORT", "8765"))
    seconds, users_n = int(os.environ.get("LOAD_SECONDS", "120")), int(os.environ.get("LOAD_USERS", "40"))
    py = sys.executable
    subprocess.run([py, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=env, cwd=BASE, check=True)
    procs = [
        subprocess.Popen([py, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                          "--workers", "2", "--no-access-log"], env=env, cwd=BASE, start_new_session=True),
        subprocess.Popen([py, "-m", "celery", "-A", "config", "worker", "-Q", "routing,optimisation,agents,backtests,default",
                          "--concurrency", "2", "-l", "warning", "-n", f"load{port}@%h"], env=env, cwd=BASE, start_new_session=True),
    ]
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # nosec B310 - loopback
                break
            except Exception:
                time.sleep(0.5)
        out = HERE / "results" / "load"
        out.parent.mkdir(exist_ok=True)
        subprocess.run([str(BASE / ".venv-load" / "bin" / "locust"), "-f", str(HERE / "locustfile.py"), "--headless",
                        "-u", str(users_n), "-r", str(max(1, users_n // 4)), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
                        "--csv", str(out), "--only-summary"], env=env, cwd=BASE, check=False)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
    rows = list(csv.DictReader(open(f"{out}_stats.csv")))
    report = [{"endpoint": r["Name"], "requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
               "rps": float(r["Requests/s"]), "p50_ms": float(r["50%"] or 0), "p99_ms": float(r["99%"] or 0)} for r in rows]
    (HERE / "results" / "load.json").write_text(json.dumps({"seconds": seconds, "users": users_n, "endpoints": report}, indent=2))
    print(f"\n{'endpoint':<40} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in report:
        print(f"{r['endpoint'][:40]:<40} {r['requests']:>9} {r['failures']:>7} {r['rps']:>8.1f} {r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
