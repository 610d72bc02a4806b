import pytest

def test_smoke(demo_small, client):
    from django.contrib.auth import get_user_model
    for u in ("trader", "risk", "admin"):
        client.force_login(get_user_model().objects.get(username=u))
        for url in ("/", "/portfolio/", "/proposals/", "/risk/", "/agents/", "/backtests/", "/orders/", "/monitoring/"):
            r = client.get(url)
            assert r.status_code == 200, (u, url, r.status_code, r.content[:3000])
    client.force_login(get_user_model().objects.get(username="trader"))
    html = client.get("/").content.decode()
    open("/tmp/ov.html", "w").write(html)
