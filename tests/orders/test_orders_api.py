"""The orders API and pages: who may see and do what, field errors, nothing half-saved, detail shape."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.orders.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_book(book):
    from portfolio_app.models import Portfolio

    return Portfolio.objects.create(name="Someone else's", cash="1000000.00")


def _fields(response) -> set[str]:
    """The fields a 400 names, in the desk's error shape ({"errors": [{"field": ...}]}) or DRF's."""
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return {e.get("field") for e in body["errors"]}
    return set(body)


def _trader_api(api_for, book):
    return api_for(book[1])


def _filled_order(book, enqueued, api):
    r = api.post("/api/v1/orders/", {"portfolio": book[0].pk, "symbol": "AAPL", "side": "BUY", "quantity": "300"}, format="json")
    assert r.status_code == 201, r.content
    drain(enqueued)
    book[2].step(1)
    drain(enqueued)
    return r.json()["id"]


def test_post_order_when_trader_of_portfolio_then_created_and_detail_has_events_fills_children_routing_tca(book, enqueued, api_for):
    api = _trader_api(api_for, book)
    oid = _filled_order(book, enqueued, api)
    d = api.get(f"/api/v1/orders/{oid}/").json()
    assert d["status"] == "FILLED" and d["filled_qty"] == "300.0000"
    assert d["children"] and d["fills"] and d["routing_decisions"] and d["events"]
    assert d["routing_decisions"][0]["allocations"][0]["venue"]
    assert d["tca"]["fill_rate"] == 1.0 and d["tca"]["arrival_price"] and d["tca"]["slippage_bps_arrival"] is not None
    listing = api.get("/api/v1/orders/", {"portfolio": book[0].pk, "status": "FILLED", "instrument": "AAPL"}).json()
    assert listing["count"] == 1 and listing["results"][0]["children_summary"]["count"] >= 1


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"quantity": "-5"}, "quantity"),
        ({"side": "HOLD"}, "side"),
        ({"symbol": "NOPE"}, "symbol"),
        ({"order_type": "LIMIT"}, "limit_price"),
        ({"quantity": "10.5"}, "quantity"),
        ({"algo": "TWAP", "algo_params": {"slices": 0}}, "algo_params"),
        ({"portfolio": "x"}, "portfolio"),
    ],
)
def test_post_order_when_bad_input_then_400_naming_the_field_and_nothing_saved(book, api_for, patch, field):
    from orders_app.models import Order

    body = {"portfolio": book[0].pk, "symbol": "AAPL", "side": "BUY", "quantity": "100", **patch}
    r = _trader_api(api_for, book).post("/api/v1/orders/", body, format="json")
    assert r.status_code == 400 and field in _fields(r), r.content
    assert Order.objects.count() == 0


def test_post_order_when_trader_not_of_portfolio_then_403(book, other_book, api_for):
    r = _trader_api(api_for, book).post(
        "/api/v1/orders/", {"portfolio": other_book.pk, "symbol": "AAPL", "side": "BUY", "quantity": "100"}, format="json")
    assert r.status_code == 403


def test_post_order_when_risk_officer_then_403_and_api_client_cannot_even_read(book, risk_officer, api_client_user, api_for):
    body = {"portfolio": book[0].pk, "symbol": "AAPL", "side": "BUY", "quantity": "100"}
    assert api_for(risk_officer).post("/api/v1/orders/", body, format="json").status_code == 403
    assert api_for(risk_officer).get("/api/v1/orders/").status_code == 200
    bot = api_for(api_client_user)
    assert bot.get("/api/v1/orders/").status_code == 403
    assert bot.post("/api/v1/orders/", body, format="json").status_code == 403
    assert bot.get("/api/v1/venues/scorecard/").status_code == 403


def test_list_orders_when_trader_then_only_own_portfolios(book, other_book, enqueued, api_for, make_user):
    from desk import roles
    from orders_app.services import order_place

    api = _trader_api(api_for, book)
    _filled_order(book, enqueued, api)
    stranger = make_user("t9", roles.TRADER)
    other_book.traders.add(stranger)
    order_place(user=stranger, portfolio_id=other_book.pk, symbol="KO", side="BUY", quantity=Decimal(10))
    mine = api.get("/api/v1/orders/").json()
    assert {r["portfolio_id"] for r in mine["results"]} == {book[0].pk}
    theirs = api_for(stranger).get("/api/v1/orders/").json()["results"]
    assert api.get(f"/api/v1/orders/{theirs[0]['id']}/").status_code == 404
    assert api.post(f"/api/v1/orders/{theirs[0]['id']}/cancel/").status_code == 404
    assert api.post(f"/api/v1/portfolios/{other_book.pk}/cancel-all/").status_code == 403


def test_cancel_and_amend_and_cancel_all_when_trader_then_orders_change(book, enqueued, api_for):
    api = _trader_api(api_for, book)
    twap = {"portfolio": book[0].pk, "symbol": "KO", "side": "BUY", "quantity": "1200", "algo": "TWAP", "algo_params": {"slices": 4}}
    a = api.post("/api/v1/orders/", twap, format="json").json()["id"]
    b = api.post("/api/v1/orders/", {**twap, "symbol": "PFE"}, format="json").json()
    assert b["status"] == "SUBMITTED", b["reason"]
    b = b["id"]
    drain(enqueued)
    r = api.post(f"/api/v1/orders/{a}/amend/", {"quantity": "0"}, format="json")
    assert r.status_code == 400 and "quantity" in _fields(r)
    r = api.post(f"/api/v1/orders/{a}/amend/", {"quantity": "900"}, format="json")
    assert r.status_code == 200 and r.json()["quantity"] == "900.0000"
    r = api.post(f"/api/v1/orders/{a}/cancel/", {"reason": "changed my mind"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "CANCELED"
    assert api.post(f"/api/v1/orders/{a}/cancel/").status_code == 400  # already cancelled
    assert api.post(f"/api/v1/portfolios/{book[0].pk}/cancel-all/").json() == {"cancelled": 1}
    assert api.get(f"/api/v1/orders/{b}/").json()["status"] == "CANCELED"
    card = api.get("/api/v1/venues/scorecard/").json()
    assert {v["code"] for v in card} == {"LIT-A", "LIT-B", "DARK-X"}


def test_blotter_page_when_many_orders_then_renders_in_bounded_queries(book, enqueued, client, django_assert_max_num_queries):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    for i in range(30):
        order_place(user=trader, portfolio_id=portfolio.pk, symbol=("AAPL", "KO", "PFE")[i % 3], side="BUY", quantity=Decimal(10 + i))
    drain(enqueued)
    client.force_login(trader)
    with django_assert_max_num_queries(25):
        r = client.get("/orders/")
    assert r.status_code == 200 and r.content.count(b'class="parent"') == 30
    assert b"Venue scorecard" in r.content and b"<script>" not in r.content
    frag = client.get("/orders/?fragment=rows&instrument=KO")
    assert frag.status_code == 200 and frag.content.count(b'class="parent"') == 10
    oid = int(frag.content.split(b'data-order-id="')[1].split(b'"')[0])
    assert client.get(f"/orders/{oid}/children/").status_code == 200
    detail = client.get(f"/orders/{oid}/")
    assert detail.status_code == 200 and b"Routing decisions" in detail.content and b"Event history" in detail.content


def test_blotter_page_when_more_orders_than_the_count_cap_then_counts_no_further_and_says_so(book, enqueued, client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders_app import selectors, views
    from orders_app.services import order_place

    portfolio, trader, _ = book
    for i in range(12):
        order_place(user=trader, portfolio_id=portfolio.pk, symbol="KO", side="BUY", quantity=Decimal(10 + i))
    drain(enqueued)
    monkeypatch.setattr(selectors, "BLOTTER_COUNT_CAP", 10)
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    client.force_login(trader)
    with CaptureQueriesContext(connection) as q:
        r = client.get("/orders/")
    assert r.status_code == 200 and r.content.count(b'class="parent"') == 5
    assert b"10+ in view" in r.content and b"page 1 of 2+" in r.content
    counts = [x["sql"] for x in q.captured_queries if "COUNT(" in x["sql"].upper() and "orders_app_order" in x["sql"]]
    assert len(counts) == 1 and "LIMIT 11" in counts[0]
    monkeypatch.setattr(selectors, "BLOTTER_COUNT_CAP", 100)
    r = client.get("/orders/")
    assert b"12 in view" in r.content and b"page 1 of 3" in r.content and b"page 1 of 3+" not in r.content


def test_order_form_when_bad_quantity_then_error_next_to_the_field(book, client):
    from orders_app.models import Order

    client.force_login(book[1])
    r = client.post("/orders/", {"portfolio": book[0].pk, "symbol": "AAPL", "side": "BUY", "quantity": "-1",
                                 "order_type": "MARKET", "time_in_force": "DAY", "algo": "IMMEDIATE"})
    assert r.status_code == 400
    assert b'data-field="quantity"' in r.content and Order.objects.count() == 0
    ok = client.post("/orders/", {"portfolio": book[0].pk, "symbol": "AAPL", "side": "BUY", "quantity": "5",
                                  "order_type": "MARKET", "time_in_force": "DAY", "algo": "IMMEDIATE"})
    assert ok.status_code == 302 and Order.objects.count() == 1


def test_orders_page_when_api_client_or_anonymous_then_refused(book, api_client_user, client):
    assert client.get("/orders/").status_code == 302
    client.force_login(api_client_user)
    assert client.get("/orders/").status_code == 403


def test_post_order_when_client_order_id_repeated_then_same_body_200_and_a_different_body_409_naming_the_order(book, enqueued, api_for):
    from orders_app.models import Order

    api = _trader_api(api_for, book)
    body = {"portfolio": book[0].pk, "symbol": "AAPL", "side": "BUY", "quantity": "10", "client_order_id": "dup-001"}
    first = api.post("/api/v1/orders/", body, format="json")
    assert first.status_code == 201, first.json()
    again = api.post("/api/v1/orders/", body, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = api.post("/api/v1/orders/", {**body, "quantity": "20", "side": "SELL"}, format="json")
    assert other.status_code == 409
    err = other.json()
    assert err["code"] == "conflict" and err["order_id"] == first.json()["id"]
    assert {e["field"] for e in err["errors"]} == {"quantity", "side"}
    assert Order.objects.filter(client_order_id="dup-001").count() == 1


def test_children_summary_when_made_directly_then_it_is_what_its_serializer_makes():
    """The list's per-order summary is built without a serializer per order: the same JSON as ``ChildSummaryOutput``."""
    from datetime import UTC, datetime

    from orders_app.selectors import ChildSummary
    from orders_app.serializers import ChildSummaryOutput, child_summary_data

    for summary in (ChildSummary(3, 1, [("PAPER", 0.75), ("FIX-A", 0.25)], datetime(2022, 1, 3, 15, 30, 0, 123456, tzinfo=UTC)),
                    ChildSummary(0, 0, [], None)):
        assert child_summary_data(summary) == ChildSummaryOutput(summary).data
