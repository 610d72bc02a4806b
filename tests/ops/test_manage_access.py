"""Every management page and endpoint is for admins: anonymous users are sent to the login page, every other
role gets 403 (and a refused POST changes nothing); admins reach each page, and only they see the Manage link."""

from __future__ import annotations

import pytest

from desk import roles

pytestmark = pytest.mark.django_db


def _urls(ids):
    return [
        ("GET", "/manage/"), ("GET", "/manage/users/"), ("POST", "/manage/users/new/"),
        ("GET", f"/manage/users/{ids['user']}/"), ("POST", f"/manage/users/{ids['user']}/"),
        ("POST", f"/manage/users/{ids['user']}/deactivate/"), ("POST", f"/manage/users/{ids['user']}/activate/"),
        ("POST", f"/manage/users/{ids['user']}/token/"),
        ("GET", "/manage/portfolios/"), ("POST", "/manage/portfolios/new/"),
        ("GET", f"/manage/portfolios/{ids['portfolio']}/"), ("POST", f"/manage/portfolios/{ids['portfolio']}/"),
        ("GET", "/manage/instruments/"), ("GET", f"/manage/instruments/{ids['instrument']}/"),
        ("POST", f"/manage/instruments/{ids['instrument']}/"), ("GET", "/manage/audit/"),
    ]


@pytest.fixture
def people(make_user, portfolio):
    from market_app.models import Instrument

    users = {name: make_user(name, role) for name, role in (
        ("t9", roles.TRADER), ("r9", roles.RISK_OFFICER), ("b9", roles.API_CLIENT), ("a9", roles.ADMIN))}
    ko = Instrument.objects.create(symbol="KO")
    return users, {"user": users["t9"].pk, "portfolio": portfolio.pk, "instrument": ko.pk}


def test_manage_pages_when_a_non_admin_asks_then_403_and_nothing_changes(people):
    from django.contrib.auth import get_user_model
    from django.test import Client

    users, ids = people
    body = {"reason": "try it", "roles": [roles.ADMIN], "username": "sneaky", "password": "Sneaky-pass-9876", "lot_size": "7"}
    User = get_user_model()
    before = (User.objects.count(), User.history.count())
    for name in ("t9", "r9", "b9"):
        c = Client()
        c.force_login(users[name])
        for method, url in _urls(ids):
            r = c.get(url) if method == "GET" else c.post(url, body)
            assert r.status_code == 403, f"{method} {url} as {name}: {r.status_code}"
    anon = Client()
    for method, url in _urls(ids):
        r = anon.get(url) if method == "GET" else anon.post(url, body)
        assert r.status_code == 302 and "/login/" in r["Location"], f"{method} {url} anonymous: {r.status_code}"
    assert (User.objects.count(), User.history.count()) == before
    assert users["t9"].is_active and not users["t9"].is_superuser


def test_manage_pages_when_an_admin_asks_then_each_page_answers_and_the_frame_links_manage(people):
    from django.test import Client

    users, ids = people
    c = Client()
    c.force_login(users["a9"])
    for method, url in _urls(ids):
        if method == "GET":
            r = c.get(url)
            assert r.status_code in (200, 302), f"{url}: {r.status_code}"
    page = c.get("/manage/users/").content.decode()
    assert 'href="/manage/"' in page and 'href="/venues/"' in page
    trader = Client()
    trader.force_login(users["t9"])
    assert 'href="/manage/"' not in trader.get("/").content.decode()


def test_manage_services_when_a_non_admin_calls_then_forbidden_and_nothing_saved(people):
    from desk.errors import Forbidden
    from ops_app.manage import services

    users, ids = people
    for call in (
        lambda u: services.user_create(actor=u, data={"username": "x1", "roles": [roles.TRADER], "password": "Xx-pass-98765", "reason": "why"}),
        lambda u: services.user_active_set(actor=u, user_id=ids["user"], active=False, data={"reason": "why"}),
        lambda u: services.user_token_rotate(actor=u, user_id=ids["user"], data={"reason": "why"}),
        lambda u: services.instrument_update(actor=u, instrument_id=ids["instrument"], data={"lot_size": "5", "reason": "why"}),
    ):
        with pytest.raises(Forbidden):
            call(users["r9"])
