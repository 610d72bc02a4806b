"""Run every benchmark in bench/, print one table, write bench/results/latest.json.

    python -m bench.run [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    setup_django()
    modules = sorted(p.stem for p in HERE.glob("bench_*.py") if args.only in p.stem)
    figures, failed = [], []
    for name in modules:
        t0 = time.perf_counter()
        print(f"… {name}", flush=True)
        try:
            mod = importlib.import_module(f"bench.{name}")
            for fig in mod.run():
                fig.setdefault("module", name)
                figures.append(fig)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"  {name} took {time.perf_counter() - t0:.1f}s", flush=True)
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "database": _vendor(),
        "figures": figures,
        "failed": failed,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latest.json").write_text(json.dumps(out, indent=2, default=str))
    print_table(figures)
    if failed:
        print("FAILED:", ", ".join(failed))
    return 1 if failed else 0


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v) if v is not None else ""


def print_table(figures) -> None:
    cols = ["name", "value", "unit", "goal", "ratio", "ref", "note"]
    rows = [[_fmt(f.get(c)) for c in cols] for f in figures]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    widths[-1] = min(widths[-1], 60)
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    print("\n" + line + "\n" + "-" * len(line))
    for r in rows:
        print("  ".join(v[:w].ljust(w) if i == 0 or i >= 5 else v.rjust(w) if i != 2 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    sys.exit(main())
