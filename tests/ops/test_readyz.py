"""Readiness with the real Celery worker and the real Redis; 503 naming the failing component."""

import pytest
from django.test import Client


@pytest.mark.live
def test_readyz_when_every_component_up_then_200(celery_worker_live):
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["components"]) == {"database", "redis", "celery", "channel_layer"}
    assert all(c["ok"] for c in body["components"].values())


@pytest.mark.django_db
def test_readyz_when_redis_unreachable_then_503_naming_redis():
    from django.test import override_settings

    from desk import redis as desk_redis

    # A Redis of the test's own that is not there (nothing listens on port 1), never the shared one;
    # restored inside the test, before the Redis-cleaning fixture of tests/ops tears down.
    desk_redis._client.cache_clear()
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            response = Client().get("/readyz")
    finally:
        desk_redis._client.cache_clear()
    body = response.json()
    assert response.status_code == 503
    assert "redis" in body["failing"]
    assert "Connection" in body["components"]["redis"]["error"]
    assert body["components"]["database"]["ok"] is True


def test_healthz_when_process_alive_then_200(client):
    assert client.get("/healthz").json() == {"status": "ok"}
