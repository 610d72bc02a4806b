"""A correlation id from the API request's log line to the fill's log line, through a real worker."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def replay_book(demo_small, settings):
    from django.contrib.auth import get_user_model

    from ops_app import demo
    from desk.clock import ReplayClock
    from market_app.clock import set_clock
    from market_app.marks import clear_cache
    from portfolio_app.models import Portfolio

    settings.DESK_ORDER_POLL_SECONDS = 0.2
    set_clock(ReplayClock("2022-03-01", 600, timezone.now() - timedelta(seconds=600 * 30 / 390)))
    clear_cache()
    yield Portfolio.objects.get(name=demo.DEMO_PORTFOLIO), get_user_model().objects.get(username="trader")
    set_clock(None)
    clear_cache()


def _event(record):
    return record.msg if isinstance(record.msg, dict) else {}


def test_order_when_placed_through_api_then_fill_log_line_carries_the_request_id(
    celery_worker_live, replay_book, api_for, caplog
):
    from orders_app.models import Fill

    portfolio, trader = replay_book
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="desk.orders")
    caplog.set_level(logging.INFO, logger="desk.request")
    response = api_for(trader).post(
        "/api/v1/orders/", {"portfolio": portfolio.pk, "symbol": "AAPL", "side": "BUY", "quantity": "100"},
        format="json", HTTP_X_REQUEST_ID="corr-order-42",
    )
    assert response.status_code in (200, 201), response.content
    assert response["X-Request-ID"] == "corr-order-42"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Fill.objects.filter(order__portfolio=portfolio).exists():
        time.sleep(0.1)
    time.sleep(0.3)
    events = [(r.name, _event(r)) for r in caplog.records]
    request_lines = [e for n, e in events if n == "desk.request" and e.get("path") == "/api/v1/orders/"]
    fill_lines = [e for n, e in events if e.get("event") == "fill.applied"]
    assert request_lines and request_lines[-1]["correlation_id"] == "corr-order-42"
    assert fill_lines, "no fill.applied log line"
    assert {e.get("correlation_id") for e in fill_lines} == {"corr-order-42"}
    assert any(e.get("task") for e in fill_lines)  # logged inside a Celery task, not the request
