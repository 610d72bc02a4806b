"""Web security: CSP, CSRF, login throttling, API throttling with Retry-After, body size limit."""

import pytest
from django.core.cache import cache
from django.test import Client


@pytest.mark.django_db
def test_page_when_served_then_strict_csp_without_inline_script(trader):
    client = Client()
    client.force_login(trader)
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert b"<script>" not in response.content


@pytest.mark.django_db
def test_form_post_when_no_csrf_token_then_403(trader):
    client = Client(enforce_csrf_checks=True)
    client.force_login(trader)
    assert client.post("/logout/").status_code == 403


@pytest.mark.django_db
def test_login_when_too_many_failures_then_locked_out_even_with_right_password(make_user):
    from desk import roles

    make_user("victim", roles.TRADER, password="right-password-123")
    client = Client()
    codes = [client.post("/login/", {"username": "victim", "password": "wrong"}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]  # the fifth failure locks the pair out
    locked = client.post("/login/", {"username": "victim", "password": "right-password-123"})
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_api_when_token_over_its_rate_then_429_with_retry_after(trader, api_for, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "user": "3/min"}
    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = rates
    try:
        api = api_for(trader)
        codes = [api.get("/api/v1/me/").status_code for _ in range(4)]
        last = api.get("/api/v1/me/")
    finally:
        UserRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    assert last.status_code == 429 and int(last["Retry-After"]) > 0


@pytest.mark.django_db
def test_api_when_body_over_limit_then_413_with_sentence(trader, api_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_for(trader).post("/api/v1/signals/", "x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


@pytest.mark.django_db
def test_swagger_ui_when_desk_user_then_served_from_this_host(trader):
    client = Client()
    client.force_login(trader)
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200 and b"cdn" not in page.content.lower()
    assert client.get("/api/v1/schema/").status_code == 200


def test_settings_when_debug_off_then_secure_cookies_hsts_and_ssl_redirect():
    import json
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_DEBUG", "DJANGO_SECRET_KEY"}}
    env.update({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50})
    names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SECURE_SSL_REDIRECT", "SECURE_CONTENT_TYPE_NOSNIFF"]
    code = ("import django, json, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); "
            f"from django.conf import settings as s; print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,  # noqa: S603
                            cwd=settings.BASE_DIR, timeout=120)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert all(got[n] is True for n in names if n != "SECURE_HSTS_SECONDS"), got
