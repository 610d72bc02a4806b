"""Browser tests: Playwright driving Debian's chromium against the real ASGI server, a real
Celery worker and beat, Redis and the test database. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("DESK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
PASSWORD = "e2e-password-0k9"


@pytest.fixture
def browser():
    """Per test: Playwright's sync API keeps an event loop in the main thread while it
    runs, which would break ``async_to_sync`` in every later test of the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def shot():
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str):
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def stack(transactional_db):
    from tests.live_stack import LiveStack

    with LiveStack() as s:
        yield s


def login(browser, stack, username, password=PASSWORD):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(stack.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(stack.url + "/")
    return page


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Poll ``predicate`` from Python until it returns something truthy.

    ``page.wait_for_function`` evaluates its predicate with ``eval`` inside the page, which
    the desk's CSP (script-src 'self', no 'unsafe-eval') refuses; reading the DOM through
    Playwright's own calls is not subject to it.
    """
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def watch_console(page) -> list[str]:
    """Collect console errors and failed page scripts (a CSP violation shows up here)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def mark_page(page) -> None:
    """Tag the document so a test can prove later that the page was never reloaded."""
    page.evaluate("() => { document.documentElement.dataset.e2eMark = 'kept'; }")


def page_kept(page) -> bool:
    return page.get_attribute("html", "data-e2e-mark") == "kept"


README_IMG = Path(__file__).resolve().parent.parent.parent / "docs" / "img"


def demo_with_history(*, minutes_before_close: float):
    """The demo as ``manage.py load_demo`` loads it -- Core Equity's history before the clock's start and the
    opening proposal -- on 4 years of closes (the history's lookback), the replay anchored at the demo's start
    date ``minutes_before_close`` market minutes before that session's close (600 wall s a session)."""
    from datetime import timedelta

    from django.utils import timezone

    from market_app.clock import anchor_set, set_clock
    from ops_app import demo

    into = (390 - minutes_before_close) * 600 / 390
    anchor_set(start_market_date="2022-01-03", seconds_per_session=600.0, wall_epoch=timezone.now() - timedelta(seconds=into))
    set_clock(None)
    frames = demo.price_frames()
    original = demo.price_frames
    demo.price_frames = lambda: (frames[0].loc["2019-01-01":], frames[1].loc["2019-01-01":])
    try:
        return demo.demo_load(history=True)
    finally:
        demo.price_frames = original
