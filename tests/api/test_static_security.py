"""Static checks in CI: bandit over the project code, and the OpenAPI schema valid with no warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["config", "execution_app", "portfolio_app", "risk_app", "orders_app"]


def _bandit() -> list[str] | None:
    """bandit from this interpreter's environment, or from PATH (requirements-dev.txt pins it)."""
    try:
        import bandit  # noqa: F401
    except ImportError:
        exe = shutil.which("bandit")
        return [exe] if exe else None
    return [sys.executable, "-m", "bandit"]


def test_bandit_when_run_over_the_project_at_medium_severity_then_no_finding():
    cmd = _bandit()
    if cmd is None:
        pytest.skip("bandit is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run(  # noqa: S603 - a fixed command line
        [*cmd, "-r", *PACKAGES, "-ll", "-q", "--exclude", "*/migrations/*"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_openapi_schema_when_generated_then_valid_with_no_warning(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.stat().st_size > 10_000
