"""Anonymous users get nothing but the login page; each role reaches what DESIGN.md allows."""

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from config.asgi import application

PAGES = ["overview", "portfolio", "proposals", "orders", "risk", "agents", "backtests", "monitoring"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_page_when_anonymous_then_redirects_to_login(page):
    response = Client().get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/me/", "/api/v1/portfolios/", "/api/v1/schema/"])
def test_api_when_anonymous_then_401(url):
    response = Client().get(url)
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_websocket_when_anonymous_then_closed():
    communicator = WebsocketCommunicator(application, "/ws/desk/", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401
    await communicator.disconnect()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["trader", "risk_officer", "desk_admin"])
@pytest.mark.parametrize("page", PAGES)
def test_page_when_desk_user_then_200(request, who, page):
    client = Client()
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse(page)).status_code == 200


@pytest.mark.django_db
def test_page_when_api_client_then_403(api_client_user):
    client = Client()
    client.force_login(api_client_user)
    assert client.get(reverse("overview")).status_code == 403


@pytest.mark.django_db
def test_portfolios_api_when_trader_then_only_own_portfolios(trader, make_user, api_for, portfolio):
    from portfolio_app.models import Portfolio

    Portfolio.objects.create(name="Someone else's", cash="5.00")
    names = [p["name"] for p in api_for(trader).get("/api/v1/portfolios/").json()]
    assert names == ["Test Book"]


@pytest.mark.django_db
def test_portfolios_api_when_risk_officer_then_all_portfolios(risk_officer, api_for, portfolio):
    from portfolio_app.models import Portfolio

    Portfolio.objects.create(name="Another", cash="5.00")
    assert len(api_for(risk_officer).get("/api/v1/portfolios/").json()) == 2


@pytest.mark.django_db
def test_portfolios_api_when_api_client_then_403(api_client_user, api_for):
    assert api_for(api_client_user).get("/api/v1/portfolios/").status_code == 403


@pytest.mark.django_db
def test_token_rotate_when_called_then_old_token_stops_working(trader, api_for):
    client = api_for(trader)
    new = client.post("/api/v1/token/rotate/").json()["token"]
    assert client.get("/api/v1/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert client.get("/api/v1/me/").json() == {"username": "t1", "roles": ["Trader"]}


@pytest.mark.django_db
def test_token_revoke_when_called_then_token_refused(trader, api_for):
    client = api_for(trader)
    assert client.post("/api/v1/token/revoke/").status_code == 204
    assert client.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db
def test_create_desk_user_when_api_role_then_prints_token_and_no_password(capsys):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("create_desk_user", "vendor1", role="api")
    out = capsys.readouterr().out
    token = out.rpartition("token: ")[2].strip()
    user = get_user_model().objects.get(username="vendor1")
    assert len(token) == 40 and user.auth_token.key == token
    assert not user.has_usable_password()


@pytest.mark.django_db
def test_create_desk_user_when_unknown_role_then_clear_error():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--role: 'boss' is not a role"):
        call_command("create_desk_user", "x", role="boss")


@pytest.mark.django_db
def test_clock_api_when_api_client_then_market_time_in_replayed_history(api_client_user, api_for):
    body = api_for(api_client_user).get("/api/v1/clock/").json()
    assert body["market_date"] >= "2022-01-03" and body["market_time"].startswith("2022-")
    assert body["display_tz"] == "America/New_York"
