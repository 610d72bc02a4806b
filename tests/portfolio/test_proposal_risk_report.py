"""A proposal shows the risk it changes and can be made again (real database)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from portfolio_app.services import proposal_create, proposal_reject

pytestmark = pytest.mark.django_db


def _set_strategy(portfolio, strategy, **params):
    portfolio.strategy = strategy
    portfolio.strategy_params = {**(portfolio.strategy_params or {}), **params}
    portfolio.save(update_fields=["strategy", "strategy_params"])


def test_proposal_when_computed_then_risk_report_volatility_contributions_sectors_tracking_error_and_binding(core):
    p = proposal_create(portfolio_id=core.pk, trigger="test")

    report = p.risk_report
    assert p.status == "PENDING_APPROVAL", p.reason
    assert report["volatility"]["before"] == pytest.approx(p.metrics_before["volatility"], abs=1e-9)
    assert report["volatility"]["after"] == pytest.approx(p.metrics_after["volatility"], abs=1e-9)
    assert sum(r["after"] for r in report["contributions"]) == pytest.approx(report["volatility"]["after"], rel=1e-9)
    assert sum(r["share_after"] for r in report["contributions"]) == pytest.approx(1.0, rel=1e-9)
    assert {r["sector"] for r in report["sectors"]} and sum(r["after"] for r in report["sectors"]) <= 1 + 1e-9
    assert report["tracking_error"]["benchmark"] == "SPX" and report["tracking_error"]["after"] > 0
    # The demo's 10% cap per instrument binds at the max-Sharpe solution.
    assert any(b["kind"] == "max_weight" and b["limit"] == pytest.approx(0.10) for b in report["binding"])
