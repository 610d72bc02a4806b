"""Metrics move when the things they count happen; logs carry the request's correlation id."""

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from prometheus_client import REGISTRY

from desk.interfaces import FillReport, LiquiditySide, Side
from orders_app import services
from market_app.models import Instrument
from portfolio_app.models import Portfolio


def sample(name, labels=None):
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.mark.django_db
def test_fill_when_applied_then_fill_counter_and_notional_move(django_capture_on_commit_callbacks):
    inst = Instrument.objects.create(symbol="ACME", adv=1000)
    pf = Portfolio.objects.create(name="Book", cash=D("100000.00"))
    before = sample("desk_fills_total", {"venue": "none"}), sample("desk_filled_notional_usd_total", {"venue": "none"})
    with django_capture_on_commit_callbacks(execute=True):
        order, _ = services.order_create(client_order_id="m1", portfolio_id=pf.pk, instrument_id=inst.pk, side="BUY", quantity=D(10))
        services.order_apply_event(order_id=order.pk, event="SUBMITTED")
        services.fill_apply(order_id=order.pk, report=FillReport("mt1", "m1", "", "ACME", Side.BUY, D(10), D("12.5"), D(0), LiquiditySide.TAKER, datetime.now(UTC)))
    assert sample("desk_fills_total", {"venue": "none"}) == before[0] + 1
    assert sample("desk_filled_notional_usd_total", {"venue": "none"}) == before[1] + 125.0
    assert sample("desk_orders_total", {"status": "FILLED"}) >= 1


@pytest.mark.django_db
def test_metrics_endpoint_when_from_loopback_then_served_and_elsewhere_refused(client, settings):
    ok = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert ok.status_code == 200 and b"desk_fills_total" in ok.content
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.DESK_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


@pytest.mark.django_db
def test_request_when_x_request_id_given_then_echoed_and_in_log_lines(client, caplog, trader):
    client.force_login(trader)
    with caplog.at_level(logging.INFO, logger="desk.request"):
        response = client.get("/api/v1/me/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    lines = [r for r in caplog.records if r.name == "desk.request"]
    assert lines and lines[-1].msg["correlation_id"] == "abc-123" and lines[-1].msg["path"] == "/api/v1/me/"
