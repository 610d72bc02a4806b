"""The database unreachable for 5 s (a loopback proxy of the test's own, cut and restored):
requests fail with 503 and a clear message, nothing is half-written, service resumes by itself."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection

from tests.faults.harness import TcpProxy, wait_terminal

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def proxied_desk(own_redis, desk_data):
    if connection.vendor != "postgresql":
        pytest.skip("the database outage is made with a TCP proxy in front of PostgreSQL; SQLite is a file, not a server")
    from tests.faults.conftest import start_desk, stop_desk
    from tests.live_stack import database_url

    d = connection.settings_dict
    proxy = TcpProxy(d.get("HOST") or "127.0.0.1", int(d.get("PORT") or 5432))
    url = database_url().replace(f":{d.get('PORT') or 5432}/", f":{proxy.port}/")
    desk = start_desk(redis_url=own_redis.url, trader=desk_data, database_url=url, n_books=1)
    yield desk, proxy
    proxy.restore()
    stop_desk(desk)
    proxy.close()


def _browser(base: str, username: str, password: str):
    """A logged-in browser session (cookies), through the real login form."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(base + "/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}).encode()
    opener.open(urllib.request.Request(base + "/login/", data=body, headers={"Referer": base + "/login/"}), timeout=30)
    return opener


def _page(opener, url: str) -> tuple[int, str]:
    try:
        with opener.open(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_requests_when_database_unreachable_then_503_nothing_half_written_and_resumes(proxied_desk, settings):
    from orders_app.models import Order, OrderEvent

    desk, proxy = proxied_desk
    api, book = desk.api, desk.books[0]
    run = uuid.uuid4().hex[:6]
    assert api.call("GET", "/api/v1/orders/")[0] == 200
    # The server process verifies with the real hashers (the tests' fast MD5 is ours only).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    desk.trader.set_password("outage-drill-9")
    desk.trader.save(update_fields=["password"])
    browser = _browser(desk.stack.url, desk.trader.username, "outage-drill-9")
    status, body = _page(browser, desk.stack.url + "/")
    assert status == 200 and "Sign in" not in body

    proxy.cut()
    t_cut = time.monotonic()
    during: list[tuple[str, int, object]] = []
    i = 0
    while time.monotonic() - t_cut < 5.0:
        cid = f"D{run}-{i}"
        status, body = api.call("POST", "/api/v1/orders/", {
            "portfolio": book.pk, "symbol": "AAPL", "side": "BUY", "quantity": str(100 + i), "client_order_id": cid})
        during.append((cid, status, body))
        i += 1
        time.sleep(0.2)
    list_status, list_body = api.call("GET", "/api/v1/orders/")
    page_status, page_body = _page(browser, desk.stack.url + "/")
    proxy.restore()

    assert during and all(s == 503 for _, s, _ in during), [(s, b) for _, s, b in during]
    assert all(b["code"] == "unavailable" and "unreachable" in b["message"] for _, _, b in during)
    assert list_status == 503 and list_body["code"] == "unavailable"
    assert page_status == 503 and "Service unavailable" in page_body, page_body[:600]
    # Nothing half-written: none of the refused orders exists, not even as INITIALIZED.
    refused = [cid for cid, _, _ in during]
    assert not Order.objects.filter(client_order_id__in=refused).exists()
    assert not OrderEvent.objects.filter(order__client_order_id__in=refused).exists()

    # Resumes by itself: the very next requests work, and an order goes through to FILLED.
    deadline = time.monotonic() + 60
    while api.call("GET", "/api/v1/orders/")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    status, _ = api.place(portfolio=book.pk, symbol="MSFT", quantity=321, client_order_id=f"D{run}-after")
    assert status == 201
    assert wait_terminal([f"D{run}-after"], timeout=90) == {f"D{run}-after": "FILLED"}
