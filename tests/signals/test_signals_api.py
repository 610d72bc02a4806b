"""POST/GET /api/v1/signals/: per-item errors, all or nothing, idempotent retries, ownership, bulk cost."""

from __future__ import annotations

import math

import pytest
from django.db import connection

from signals_app.models import Signal
from tests.signals.signal_fixtures import (  # noqa: F401 - fixtures
    instruments,
    item,
    market_clock,
    other_agent,
    vendor_agent,
)

URL = "/api/v1/signals/"
pytestmark = pytest.mark.django_db


def errors_of(response):
    return [(e["index"], e["field"]) for e in response.json()["errors"]]


def test_post_signal_when_valid_then_201_and_stored_as_sent(api_for, api_client_user, vendor_agent, instruments, market_clock):
    response = api_for(api_client_user).post(URL, item(0, score=0.123456, metadata={"model": "v3"}), format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["agent"], body["symbol"], body["score"], body["confidence"]) == ("vendor", "AAPL", "0.12346", "0.80000")
    assert body["generated_at"].startswith("2022-03-07T14:30:00") and body["metadata"] == {"model": "v3"}
    stored = Signal.objects.get()
    assert stored.client_signal_id == "s-0" and str(stored.horizon_days) == "5.000"


@pytest.mark.parametrize(
    "field, value, reason_part",
    [
        ("score", 1.5, "between -1 and 1"),
        ("score", "0.5", "must be a number"),
        ("confidence", -0.1, "between 0 and 1"),
        ("symbol", "NOPE", "unknown symbol"),
        ("generated_at", "2022-03-07T14:30:00", "no time zone"),
        ("generated_at", "yesterday", "ISO 8601"),
        ("horizon_days", 0, "between"),
        ("generated_at", "2022-02-01T14:30:00Z", "expired"),
        ("agent", "ghost", "unknown agent"),
        ("client_signal_id", "", "1 to 128 characters"),
        ("metadata", [1, 2], "must be an object"),
    ],
)
def test_post_batch_when_one_field_is_bad_then_400_names_index_and_field(
    api_for, api_client_user, vendor_agent, instruments, market_clock, field, value, reason_part
):
    batch = [item(0), item(1), item(2, **{field: value})]

    response = api_for(api_client_user).post(URL, batch, format="json")

    assert response.status_code == 400
    assert errors_of(response) == [(2, field)]
    assert reason_part in response.json()["errors"][0]["reason"]
    assert Signal.objects.count() == 0


def test_post_batch_when_field_missing_and_others_bad_then_every_error_listed_and_nothing_saved(
    api_for, api_client_user, vendor_agent, instruments, market_clock
):
    bad_missing = item(1)
    del bad_missing["confidence"]
    batch = [item(0), bad_missing, item(2, score=-3, symbol="ZZZ"), "not an object"]

    response = api_for(api_client_user).post(URL, batch, format="json")

    assert response.status_code == 400
    assert errors_of(response) == [(1, "confidence"), (2, "score"), (2, "symbol"), (3, "non_field_errors")]
    assert response.json()["errors"][0]["reason"] == "missing field"
    assert Signal.objects.count() == 0


def test_post_batch_when_agent_disabled_then_400_on_agent(api_for, api_client_user, desk_admin, vendor_agent, instruments, market_clock):
    from signals_app.services import agent_update

    agent_update(actor=desk_admin, agent_id=vendor_agent.id, enabled=False)

    response = api_for(api_client_user).post(URL, [item(0)], format="json")

    assert response.status_code == 400
    assert errors_of(response) == [(0, "agent")] and "disabled" in response.json()["errors"][0]["reason"]


def test_post_batch_when_same_client_id_twice_then_second_is_an_error(api_for, api_client_user, vendor_agent, instruments, market_clock):
    response = api_for(api_client_user).post(URL, [item(0), item(1, client_signal_id="s-0")], format="json")

    assert response.status_code == 400
    assert errors_of(response) == [(1, "client_signal_id")]


def test_post_signal_when_resubmitted_then_200_with_stored_signal_and_nothing_created(
    api_for, api_client_user, vendor_agent, instruments, market_clock
):
    client = api_for(api_client_user)
    first = client.post(URL, item(0), format="json")

    # A retry, even with a drifted score, returns what was stored.
    again = client.post(URL, item(0, score=-0.9), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Signal.objects.count() == 1


def test_post_signal_when_stored_then_body_is_the_stored_row_without_reading_it_back(
    api_for, api_client_user, vendor_agent, instruments, market_clock, django_assert_max_num_queries
):
    client = api_for(api_client_user)
    with django_assert_max_num_queries(20) as q:
        response = client.post(URL, item(0, score=-0.333333, metadata={"model": "v3", "params": {"k": [1, 2.5]}}), format="json")
    # Read before the next request: each request empties the connection's query log.
    reads = [x["sql"] for x in q.captured_queries if x["sql"].startswith("SELECT") and Signal._meta.db_table in x["sql"]]

    assert response.status_code == 201
    assert len(reads) == 1  # the idempotency check; the response is not read back
    assert [response.json()] == client.get(URL).json()["results"]


def test_post_batch_when_partly_resubmitted_then_only_new_items_created(api_for, api_client_user, vendor_agent, instruments, market_clock):
    client = api_for(api_client_user)
    first = client.post(URL, [item(0), item(1)], format="json").json()

    response = client.post(URL, [item(1), item(2), item(0)], format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["existing"], body["new"]) == (1, 2, [False, True, False])
    assert body["ids"][0] == first["ids"][1] and body["ids"][2] == first["ids"][0]
    assert Signal.objects.count() == 3
    assert client.post(URL, [item(2)], format="json").status_code == 200


def test_post_batch_when_agent_not_owned_then_403_and_nothing_saved(
    api_for, api_client_user, vendor_agent, other_agent, instruments, market_clock
):
    response = api_for(api_client_user).post(URL, [item(0), item(1, agent="someone-else")], format="json")

    assert response.status_code == 403
    assert errors_of(response) == [(1, "agent")]
    assert Signal.objects.count() == 0


@pytest.mark.parametrize("who", ["trader", "risk_officer"])
def test_post_signal_when_desk_user_not_api_client_then_403(request, api_for, who, vendor_agent, instruments, market_clock):
    response = api_for(request.getfixturevalue(who)).post(URL, item(0), format="json")

    assert response.status_code == 403


def test_post_batch_when_over_10000_items_then_400_and_empty_list_too(api_for, api_client_user, vendor_agent, instruments):
    client = api_for(api_client_user)

    assert client.post(URL, [item(k) for k in range(10_001)], format="json").status_code == 400
    assert client.post(URL, [], format="json").status_code == 400


def test_post_batch_when_10000_items_then_bounded_queries_and_all_stored(
    api_for, api_client_user, vendor_agent, instruments, market_clock, django_assert_max_num_queries
):
    client = api_for(api_client_user)
    batch = [item(k, score=((k % 200) - 100) / 100) for k in range(10_000)]
    # Fixed reads (token, roles, agents, symbols, stored ids) + the INSERT, which the backend
    # may have to split by its bound-parameter limit (SQLite: 999), never one per row.
    per_insert = connection.ops.bulk_batch_size([f for f in Signal._meta.concrete_fields if not f.primary_key], batch)
    budget = 12 + math.ceil(len(batch) / per_insert)

    with django_assert_max_num_queries(budget):
        response = client.post(URL, batch, format="json")

    assert response.status_code == 201, response.content[:500]
    assert response.json()["created"] == 10_000
    assert Signal.objects.count() == 10_000
    assert budget < 200


def test_get_signals_when_api_client_then_only_its_agents_and_filters_apply(
    api_for, api_client_user, desk_admin, vendor_agent, other_agent, instruments, market_clock
):
    api_for(api_client_user).post(URL, [item(0), item(1), item(2, generated_at="2022-03-07T12:00:00Z")], format="json")
    api_for(desk_admin).post(URL, [item(7, agent="someone-else")], format="json")

    mine = api_for(api_client_user).get(URL).json()
    by_symbol = api_for(api_client_user).get(URL, {"symbol": "MSFT"}).json()
    in_window = api_for(api_client_user).get(URL, {"since": "2022-03-07T14:00:00Z", "until": "2022-03-07T15:00:00Z"}).json()
    everything = api_for(desk_admin).get(URL, {"limit": 2}).json()

    assert mine["count"] == 3 and {r["agent"] for r in mine["results"]} == {"vendor"}
    assert [r["client_signal_id"] for r in by_symbol["results"]] == ["s-1"]
    assert sorted(r["client_signal_id"] for r in in_window["results"]) == ["s-0", "s-1"]
    assert everything["count"] == 4 and len(everything["results"]) == 2 and everything["next"]
    assert api_for(desk_admin).get(URL, {"agent": "someone-else"}).json()["count"] == 1
