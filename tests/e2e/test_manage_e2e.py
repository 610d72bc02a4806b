"""The admins' management pages in the browser, on the real stack (ASGI server, Celery worker and beat,
PostgreSQL, Redis): an admin adds a trader to a portfolio and the trader signs in and sees it; the admin
restricts an instrument and changes its lot size, and the trader's order in it is denied by the gate; a token
rotation makes the old token fail (401) and the new one work; deactivating the trader ends their session;
the audit list shows every change with who, when, before and after; a trader gets 403 on every manage page.
Screenshots of each page in tests/artifacts/screenshots/manage-*.png."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

from tests.e2e.conftest import browser, login, shot, stack, watch_console  # noqa: E402,F401

pytestmark = [pytest.mark.e2e]

NEW_PASSWORD = "Desk-trader3-pass-0k9"


def _api_status(stack, token: str) -> int:
    request = urllib.request.Request(stack.url + "/api/v1/me/", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - loopback
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_manage_pages_when_an_admin_manages_users_instruments_and_tokens_then_access_and_the_gate_follow(demo_small, browser, stack, shot):  # noqa: F811
    from ops_app.demo import DEMO_PORTFOLIO, demo_password

    admin = login(browser, stack, "admin", demo_password())
    errors = watch_console(admin)
    assert admin.locator('header nav a[href="/manage/"]').count() == 1

    # 1. A new trader, assigned to the demo portfolio.
    admin.goto(stack.url + "/manage/users/")
    shot(admin, "manage-users")
    form = admin.locator("#user-new form")
    form.locator('input[name="username"]').fill("trader3")
    form.locator('input[name="password"]').fill(NEW_PASSWORD)
    form.locator('input[name="roles"][value="Trader"]').check()
    form.locator('select[name="portfolios"]').select_option(label=DEMO_PORTFOLIO)
    form.locator('input[name="reason"]').fill("joins the equity desk")
    form.locator('button[type="submit"]').click()
    admin.wait_for_selector("#new-token")
    first_token = admin.locator("#new-token code.token").text_content().strip()
    assert len(first_token) == 40
    shot(admin, "manage-user-created")

    trader3 = login(browser, stack, "trader3", NEW_PASSWORD)
    trader3.goto(stack.url + "/portfolio/")
    assert DEMO_PORTFOLIO in trader3.locator("main").text_content()
    assert _api_status(stack, first_token) == 200

    # 2. KO restricted, in lots of 100: the gate denies the trader's order, the lot size refuses 150.
    admin.goto(stack.url + "/manage/instruments/?q=KO")
    admin.locator('tr[data-symbol="KO"] a').click()
    admin.wait_for_selector("#instrument-form")
    admin.fill("#id_lot_size", "100")
    admin.check("#id_restricted")
    admin.fill("#id_reason", "compliance: on the restricted list")
    admin.click('#instrument-form button[type="submit"]')
    admin.wait_for_selector("#instrument-history td.changes [data-field='restricted']")
    shot(admin, "manage-instrument")

    trader3.goto(stack.url + "/orders/")
    order_form = trader3.locator("#order-form")
    order_form.locator('input[name="symbol"]').fill("KO")
    order_form.locator('input[name="quantity"]').fill("150")
    order_form.locator('button[type="submit"]').click()
    trader3.wait_for_load_state()
    assert "lots of 100" in trader3.locator("#order-form-panel").text_content()
    trader3.locator('#order-form input[name="quantity"]').fill("100")
    trader3.locator('#order-form button[type="submit"]').click()
    trader3.wait_for_url(lambda url: "/orders/" in url and url.rstrip("/").split("/")[-1].isdigit())
    detail = trader3.locator("main").text_content()
    assert "DENIED" in detail and "KO is on the restricted list" in detail, detail[:2000]
    shot(trader3, "manage-restricted-order-denied")

    # 3. Rotate trader3's token: the old one 401, the new one 200.
    admin.goto(stack.url + "/manage/users/")
    admin.locator('tr[data-user="trader3"] a').click()
    admin.wait_for_selector("#token-form")
    admin.locator('#token-form input[name="reason"]').fill("token pasted in a chat")
    admin.locator('#token-form button[type="submit"]').click()
    admin.wait_for_selector("#new-token")
    new_token = admin.locator("#new-token code.token").text_content().strip()
    assert new_token != first_token
    assert (_api_status(stack, first_token), _api_status(stack, new_token)) == (401, 200)
    shot(admin, "manage-user-token-rotated")

    # 4. Deactivate trader3: their open session goes back to the login page, their token fails.
    admin.locator('#deactivate-form input[name="reason"]').fill("left the firm")
    admin.locator('#deactivate-form button[type="submit"]').click()
    admin.wait_for_selector("#activate-form")
    trader3.goto(stack.url + "/portfolio/")
    assert "/login/" in trader3.url
    assert _api_status(stack, new_token) == 401
    shot(admin, "manage-user-deactivated")

    # 5. Portfolios: the list and one portfolio's form.
    admin.goto(stack.url + "/manage/portfolios/")
    assert "trader" in admin.locator(f'tr[data-portfolio="{DEMO_PORTFOLIO}"]').text_content()
    shot(admin, "manage-portfolios")
    admin.locator(f'tr[data-portfolio="{DEMO_PORTFOLIO}"] a').click()
    admin.wait_for_selector("#portfolio-form")
    admin.select_option("#id_policy_kind", "drift")
    admin.fill("#id_policy_band_pp", "3")
    admin.fill("#id_reason", "tighter drift band")
    admin.click('#portfolio-form button[type="submit"]')
    admin.wait_for_selector("#portfolio-history td.changes [data-field='rebalance_policy']")
    shot(admin, "manage-portfolio")

    # 6. The audit list: every change, who, when, before -> after, why.
    admin.goto(stack.url + "/manage/audit/")
    rows = admin.locator("#audit tbody tr")
    text = admin.locator("#audit").text_content()
    for why in ("joins the equity desk", "compliance: on the restricted list", "token pasted in a chat (API token rotated)",
                "left the firm", "tighter drift band"):
        assert why in text, why
    ko = admin.locator('#audit tr[data-object="KO"]').first
    assert ko.locator(".who").text_content() == "admin"
    assert ko.locator('[data-field="restricted"] .old').text_content() == "no"
    assert ko.locator('[data-field="restricted"] .new').text_content() == "yes"
    assert ko.locator('[data-field="lot_size"] .new').text_content().startswith("100")
    deactivated = admin.locator('#audit tr[data-object="trader3"]').first
    assert deactivated.locator('[data-field="is_active"] .new').text_content() == "no"
    assert rows.count() >= 5
    assert admin.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shot(admin, "manage-audit")
    assert not errors, errors

    # 7. A trader gets 403 on the management pages and sees no Manage link.
    trader = login(browser, stack, "trader", demo_password())
    assert trader.locator('header nav a[href="/manage/"]').count() == 0
    for path in ("/manage/", "/manage/users/", "/manage/portfolios/", "/manage/instruments/", "/manage/audit/"):
        assert trader.goto(stack.url + path).status == 403, path
