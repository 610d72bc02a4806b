"""The architecture holds: layers and acyclic apps (import-linter), and every task enqueued by name exists."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("desk", "market_app", "signals_app", "portfolio_app", "orders_app", "risk_app", "execution_app", "ops_app")


def test_lint_imports_when_run_on_the_code_then_every_contract_is_kept():
    # A subprocess, as `lint-imports` runs in a shell: the graph is built from the source, deferred imports included.
    out = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_contract_when_read_then_at_most_three_ignored_imports_each_with_a_reason():
    text = (ROOT / ".importlinter").read_text()
    cfg = configparser.ConfigParser()
    cfg.read_string(text)
    ignored = [line for section in cfg.sections() for line in cfg[section].get("ignore_imports", "").splitlines() if line.strip()]
    assert len(ignored) <= 3
    for line in ignored:  # the reason is the comment on the line before
        before = text[: text.index(line)].rstrip().splitlines()[-1]
        assert before.strip().startswith("#"), f"{line}: no comment saying why"
    layers = [x.strip() for x in cfg["importlinter:contract:layers"]["layers"].splitlines() if x.strip()]
    assert layers[-1] == "desk" and layers[0] == "config" and set(APPS) <= set(layers)


def test_enqueue_when_a_task_is_sent_by_name_then_a_worker_knows_that_name():
    from config.celery import app

    app.loader.import_default_modules()
    names = set()
    for app_dir in APPS:
        for path in (ROOT / app_dir).rglob("*.py"):
            names |= set(re.findall(r"enqueue(?:_on_commit)?\(\s*\"([\w.]+)\"", path.read_text()))
    assert names, "no task enqueued by name: the scan is broken"
    unknown = sorted(n for n in names if n not in app.tasks)
    assert not unknown, f"enqueued but not registered: {unknown}"


def test_code_when_scanned_then_no_module_is_a_flattened_package_and_no_comment_cites_an_issue():
    offenders = []
    for app_dir in (*APPS, "config"):
        for path in (ROOT / app_dir).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT)
            if re.match(r"(signal|scenario|agent)_\w+\.py$", path.name):
                offenders.append(f"{rel}: a prefix where a package belongs")
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\bissues? \d+\b|\(issue \d+\)", line, re.I):
                    offenders.append(f"{rel}:{n}: cites an issue number")
    assert not offenders, "\n".join(offenders[:40])
