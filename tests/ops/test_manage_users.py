"""Users and roles on the management pages: an admin adds a trader who then signs in and sees their portfolio,
changes roles, rotates a token (the old one fails at once) and deactivates a user (their session and token end);
bad input is refused naming the field, with nothing half-saved; every change is one audit row."""

from __future__ import annotations

import pytest

from desk import roles

pytestmark = pytest.mark.django_db

PASSWORD = "Tr4der-pass-phrase-01"


def _client(user=None):
    from django.test import Client

    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def _sign_in(username, password):
    """A real sign-in through the login page (django-axes wants the request), the session kept in the client."""
    from django.test import Client

    c = Client()
    r = c.post("/login/", {"username": username, "password": password})
    return c if r.status_code == 302 and r["Location"] == "/" else None


def _new_trader(admin, portfolio, username="newtrader"):
    r = _client(admin).post("/manage/users/new/", {
        "username": username, "email": f"{username}@desk.example", "roles": [roles.TRADER], "password": PASSWORD,
        "portfolios": [portfolio.pk], "reason": "joins the desk"})
    assert r.status_code == 200, r.content.decode()[:3000]
    return r


def test_user_create_when_admin_adds_a_trader_to_a_portfolio_then_the_trader_signs_in_and_sees_it(desk_admin, portfolio):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    page = _new_trader(desk_admin, portfolio).content.decode()
    user = get_user_model().objects.get(username="newtrader")
    token = Token.objects.get(user=user)
    assert token.key in page and 'id="new-token"' in page  # shown once, on the answer to the POST
    assert roles.roles_of(user) == {roles.TRADER} and list(user.portfolios.all()) == [portfolio]

    c = _sign_in("newtrader", PASSWORD)
    assert c is not None
    assert portfolio.name in c.get("/portfolio/").content.decode()
    listed = c.get("/api/v1/portfolios/", HTTP_AUTHORIZATION=f"Token {token.key}").json()
    assert [p["name"] for p in listed["results"]] == [portfolio.name] if isinstance(listed, dict) else [p["name"] for p in listed] == [portfolio.name]

    [row] = user.history.all()
    assert (row.history_type, row.history_user, row.history_change_reason) == ("+", desk_admin, "joins the desk")
    assert (row.roles_held, row.portfolios_held, row.is_active) == (roles.TRADER, portfolio.name, True)


def test_user_create_when_input_is_bad_then_400_naming_each_field_and_nothing_saved(desk_admin, portfolio, trader):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users, history = User.objects.count(), User.history.count()
    r = _client(desk_admin).post("/manage/users/new/", {
        "username": trader.username, "roles": [roles.RISK_OFFICER], "password": "", "portfolios": [portfolio.pk], "reason": ""})
    body = r.content.decode()
    assert r.status_code == 400
    for field in ("username", "password", "portfolios", "reason"):
        assert f'data-field="{field}"' in body, field
    r = _client(desk_admin).post("/manage/users/new/", {"username": "bad name!", "roles": [], "password": "x", "reason": "why not"})
    body = r.content.decode()
    assert r.status_code == 400 and 'data-field="username"' in body and 'data-field="roles"' in body and 'data-field="password"' in body
    r = _client(desk_admin).post("/manage/users/new/", {"username": "bot9", "roles": [roles.API_CLIENT, roles.TRADER],
                                                         "password": PASSWORD, "reason": "a bot"})
    assert r.status_code == 400 and 'data-field="roles"' in r.content.decode()
    assert (User.objects.count(), User.history.count()) == (users, history)


def test_user_update_when_roles_and_portfolios_change_then_one_audit_row_with_before_and_after(desk_admin, portfolio, risk_officer):
    from ops_app.manage.selectors import audit_entries

    r = _client(desk_admin).post(f"/manage/users/{risk_officer.pk}/", {
        "email": "r1@desk.example", "roles": [roles.RISK_OFFICER, roles.TRADER], "portfolios": [portfolio.pk], "reason": "covers the book"})
    assert r.status_code == 302, r.content.decode()[:3000]
    risk_officer.refresh_from_db()
    assert roles.roles_of(risk_officer) == {roles.RISK_OFFICER, roles.TRADER}
    [entry] = [e for e in audit_entries(kind="user", object_id=risk_officer.pk) if e.why == "covers the book"]
    changes = {f: (old, new) for f, old, new in entry.changes}
    assert entry.who == desk_admin.username and entry.action == "changed"
    assert changes["roles_held"] == (roles.RISK_OFFICER, f"{roles.RISK_OFFICER}, {roles.TRADER}")
    assert changes["portfolios_held"] == ("—", portfolio.name)
    assert changes["email"] == ("—", "r1@desk.example")
    assert len([e for e in audit_entries(kind="user", object_id=risk_officer.pk)]) == 2  # created, then this one change


def test_user_update_when_the_admin_role_is_removed_then_the_user_is_no_admin_anywhere(desk_admin, make_user):
    other = make_user("a2", roles.ADMIN)
    assert other.is_superuser
    r = _client(desk_admin).post(f"/manage/users/{other.pk}/", {"roles": [roles.RISK_OFFICER], "reason": "moves to risk"})
    assert r.status_code == 302
    other.refresh_from_db()
    assert not other.is_superuser and not other.is_staff and roles.roles_of(other) == {roles.RISK_OFFICER}
    assert _client(other).get("/manage/users/").status_code == 403


def test_user_update_when_an_admin_takes_their_own_admin_role_then_400_and_unchanged(desk_admin):
    r = _client(desk_admin).post(f"/manage/users/{desk_admin.pk}/", {"roles": [roles.TRADER], "reason": "oops"})
    assert r.status_code == 400 and 'data-field="roles"' in r.content.decode()
    desk_admin.refresh_from_db()
    assert desk_admin.is_superuser and roles.ADMIN in set(desk_admin.groups.values_list("name", flat=True))


def test_user_token_rotate_when_admin_rotates_then_the_old_token_gets_401_and_the_new_one_works(desk_admin, api_client_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    old = Token.objects.get(user=api_client_user).key
    r = _client(desk_admin).post(f"/manage/users/{api_client_user.pk}/token/", {"reason": "leaked in a log"})
    assert r.status_code == 200
    new = Token.objects.get(user=api_client_user).key
    assert new != old and new in r.content.decode()

    def status(key):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return c.get("/api/v1/me/").status_code

    assert (status(old), status(new)) == (401, 200)
    [row] = api_client_user.history.filter(history_change_reason__contains="rotated")
    assert row.history_user == desk_admin and row.history_change_reason == "leaked in a log (API token rotated)"
    assert row.prev_record.token_fingerprint != row.token_fingerprint and old not in row.token_fingerprint


def test_user_deactivate_when_admin_deactivates_then_their_session_and_token_end(desk_admin, trader):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    session = _client(trader)
    assert session.get("/").status_code == 200
    key = Token.objects.get(user=trader).key
    r = _client(desk_admin).post(f"/manage/users/{trader.pk}/deactivate/", {"reason": "left the firm"})
    assert r.status_code == 302
    assert session.get("/").status_code == 302  # back to the login page
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").status_code == 401
    assert _sign_in(trader.username, "correct-horse-battery-9") is None
    row = trader.history.latest()
    assert (row.is_active, row.prev_record.is_active, row.history_change_reason) == (False, True, "left the firm")


def test_user_deactivate_when_an_admin_deactivates_themselves_then_400_and_still_active(desk_admin):
    r = _client(desk_admin).post(f"/manage/users/{desk_admin.pk}/deactivate/", {"reason": "testing"})
    assert r.status_code == 400 and 'data-field="user"' in r.content.decode()
    desk_admin.refresh_from_db()
    assert desk_admin.is_active


def test_user_history_when_a_user_signs_in_then_no_audit_row(trader):
    rows = trader.history.count()
    assert _sign_in(trader.username, "correct-horse-battery-9") is not None
    trader.refresh_from_db()
    assert trader.last_login is not None and trader.history.count() == rows


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_user_deactivate_when_the_user_has_a_live_socket_then_it_closes_and_cannot_reconnect(make_user):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from config.asgi import application
    from execution_app.consumers import CLOSE_ACCESS_CHANGED, CLOSE_UNAUTHENTICATED
    from ops_app.manage import services

    @sync_to_async
    def setup():
        admin, trader = make_user("a-ws", roles.ADMIN), make_user("t-ws", roles.TRADER)
        c = Client()
        c.force_login(trader)
        return admin, trader, c.cookies["sessionid"].value

    admin, trader, cookie = await setup()
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())]
    comm = WebsocketCommunicator(application, "/ws/desk/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_json_from(timeout=5)  # hello

    await sync_to_async(services.user_active_set)(actor=admin, user_id=trader.pk, active=False, data={"reason": "left the firm"})
    pushed = await comm.receive_json_from(timeout=5)
    assert pushed["type"] == "access.changed" and pushed["data"] == {"user_id": trader.pk}
    closed = await comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_ACCESS_CHANGED}
    await comm.wait()

    again = WebsocketCommunicator(application, "/ws/desk/", headers=headers)
    connected, code = await again.connect()
    assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)


def test_token_rotate_when_a_client_rotates_its_own_token_over_the_api_then_the_audit_list_has_it(api_client_user, api_for):
    from ops_app.manage.selectors import audit_entries

    before = api_client_user.history.count()
    r = api_for(api_client_user).post("/api/v1/token/rotate/")
    assert r.status_code == 200
    newest = audit_entries(kind="user", object_id=api_client_user.pk)[0]
    assert api_client_user.history.count() == before + 1
    assert (newest.who, newest.why, [c[0] for c in newest.changes]) == (
        api_client_user.username, "API token rotated by its user", ["token_fingerprint"])
