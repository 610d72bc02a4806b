"""Shared fixtures: desk users per role (made through the real services), a real Celery
worker, and the live stack (ASGI server, worker, beat as subprocesses) for browser tests."""

from __future__ import annotations

import pytest

from desk import roles


@pytest.fixture(autouse=True)
def _fast_passwords(request, settings):
    """PBKDF2 at full strength costs ~0.3 s a user, and the demo makes several. Browser tests
    log in through a server process that only knows the real hashers, so they keep them."""
    if request.node.get_closest_marker("e2e") is None:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_market_caches():
    """Each test has its own database: the per-process caches read from the last one (an instrument's
    day and its intraday path, the VaR returns, the clock's anchor) must not carry over into it."""
    from market_app.clock import set_clock
    from market_app.marks import clear_cache
    from risk_app import snapshots

    clear_cache()
    with snapshots._returns_lock:
        snapshots._returns_cache.clear()
    set_clock(None)
    yield


def _make_user(username: str, role: str, password: str = "correct-horse-battery-9"):
    from ops_app.accounts import desk_user_create

    user, token, _ = desk_user_create(username=username, role=role, password=password)
    return user


@pytest.fixture
def make_user(db):
    return _make_user


@pytest.fixture
def trader(db):
    return _make_user("t1", roles.TRADER)


@pytest.fixture
def risk_officer(db):
    return _make_user("r1", roles.RISK_OFFICER)


@pytest.fixture
def risk_officer2(db):
    return _make_user("r2", roles.RISK_OFFICER)


@pytest.fixture
def desk_admin(db):
    return _make_user("a1", roles.ADMIN)


@pytest.fixture
def api_client_user(db):
    return _make_user("bot1", roles.API_CLIENT)


@pytest.fixture
def api_for():
    """A DRF APIClient authenticated with the user's token, as a real client would be."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def portfolio(db, trader):
    from portfolio_app.models import Portfolio

    p = Portfolio.objects.create(name="Test Book", cash="1000000.00")
    p.traders.add(trader)
    return p


@pytest.fixture
def demo_small(db):
    """Instruments, venues, users and a portfolio of the demo, with 3 years of closes (fast)."""
    from ops_app import demo

    frames = demo.price_frames()
    prices, index = frames[0].loc["2020-01-01":], frames[1].loc["2020-01-01":]
    original = demo.price_frames
    demo.price_frames = lambda: (prices, index)
    try:
        return demo.demo_load()
    finally:
        demo.price_frames = original


@pytest.fixture
def celery_worker_live(transactional_db):
    """A real Celery worker (threads pool) on the real broker, consuming every desk queue."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from config.celery import app

    app.conf.task_always_eager = False
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=list(settings.DESK_QUEUES),
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker
