"""The Monitoring page's Resources and Backups panels in Chromium against the real stack: the web
process, the worker and beat each appear with their own CPU and memory, the queues with their
oldest task, the database, Redis and disk figures, and the last backup with its age. Written to
tests/artifacts/screenshots/monitoring-resources.png for a person to look at."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, wait_until, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def stack(transactional_db):
    from tests.live_stack import LiveStack

    with LiveStack(extra_env={"DESK_PROCESS_HEARTBEAT_SECONDS": "1"}) as s:
        yield s


@pytest.fixture
def backed_up(demo_small, tmp_path, settings):
    """A backup made before the browser starts: ORM calls made while Playwright's loop runs get a
    connection of their own that the test database's teardown then finds still open."""
    from ops_app.backup import backup_run

    settings.DESK_BACKUP_DIR = tmp_path / "backups"
    return backup_run()


def test_monitoring_page_when_the_desk_runs_then_every_process_queue_and_the_last_backup_shown(
    backed_up, browser, stack, shot  # noqa: F811
):
    from ops_app.demo import demo_password

    record = backed_up
    page = login(browser, stack, "admin", demo_password())
    errors = watch_console(page)
    page.goto(stack.url + "/monitoring/")
    page.wait_for_selector("#live-indicator.on", timeout=20_000)

    def roles():  # the page refreshes its data every 10 s
        return {t.strip() for t in page.locator("#procs tbody td:first-child").all_inner_texts()} >= {"web", "worker", "beat"}

    wait_until(roles, timeout=60, interval=1, message="web, worker and beat in the Resources panel")
    wait_until(lambda: page.locator("#mon-updated").inner_text().startswith("updated"), timeout=30,
               message="the page's first refresh from its data endpoint")
    page.wait_for_timeout(700)
    shot(page, "monitoring-resources")

    cpu = page.locator("#procs tbody tr td:nth-child(4)").all_inner_texts()
    assert all(c.replace(".", "", 1).isdigit() for c in cpu), cpu
    assert "default" in page.locator("#queues").inner_text()
    assert page.locator("#res-disk").inner_text().endswith("%)")
    assert record.sha256[:12] in page.locator("#backup-last").inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
    assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors
