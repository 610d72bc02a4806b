"""A newcomer's `make test` names the missing browser at once, in one line, before installing or running anything."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_when_no_chromium_then_stops_at_once_naming_the_install_command(tmp_path):
    out = subprocess.run(["make", "-s", "--no-print-directory", "chromium", f"DESK_CHROMIUM={tmp_path / 'no-chromium'}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    # make's own "make: ***" (or "make[1]: ***" when the suite itself runs under make) is not ours.
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip() and not re.match(r"make(\[\d+\])?:", line)]
    assert out.returncode != 0
    assert len(lines) == 1 and "apt-get install chromium" in lines[0] and str(tmp_path / "no-chromium") in lines[0]
    dry = subprocess.run(["make", "-n", "--no-print-directory", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "apt-get install chromium" in dry.splitlines()[0]  # `make test` checks first, before installing anything
