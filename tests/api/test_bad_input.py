"""Bad input on the main write endpoints: out-of-range numbers, wrong types, unknown ids, malformed
JSON, naive timestamps and unicode oddities get a 400 naming the field, and nothing is saved."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.helpers import error_fields

MARKET_NOW = datetime(2022, 6, 1, 15, 0, tzinfo=timezone.utc)

SIGNAL = {"agent": "vendor-feed", "symbol": "AAPL", "score": 0.5, "confidence": 0.8, "horizon_days": 5,
          "generated_at": "2022-06-01T14:00:00Z", "client_signal_id": "bad-input-1"}
ORDER = {"portfolio": "{pf}", "symbol": "AAPL", "side": "BUY", "quantity": "10"}
LIMIT = {"name": "Bad input", "kind": "max_order_qty", "threshold": "1000", "reason": "test"}
BACKTEST = {"strategy": "equal_weight", "start": "2021-01-04", "end": "2021-03-31"}
AGENT = {"name": "bad-input-agent", "type": "external"}

NUL, LONE_SURROGATE, RTL_OVERRIDE = "a\x00b", "\ud800", "\u202eevil"

# (case, role, path, model whose row count must not change, body, field the error must name)
CASES = [
    ("signal score out of range", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "score": 1.5}, "score"),
    ("signal score wrong type", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "score": "high"}, "score"),
    ("signal horizon out of range", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "horizon_days": 10_000}, "horizon_days"),
    ("signal naive timestamp", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "generated_at": "2022-06-01T14:00:00"}, "generated_at"),
    ("signal unknown symbol", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "symbol": "NOSUCH"}, "symbol"),
    ("signal NUL in id", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "client_signal_id": NUL}, "client_signal_id"),
    # msgspec refuses a lone surrogate while parsing, before any field exists: a 400 for the request as a whole.
    ("signal lone surrogate", "api", "/api/v1/signals/", "signals_app.Signal", {**SIGNAL, "client_signal_id": LONE_SURROGATE}, None),
    ("order negative quantity", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "quantity": "-5"}, "quantity"),
    ("order zero quantity", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "quantity": "0"}, "quantity"),
    ("order huge quantity", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "quantity": "1e30"}, "quantity"),
    ("order quantity wrong type", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "quantity": [1]}, "quantity"),
    ("order unknown portfolio", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "portfolio": 987654}, "portfolio"),
    ("order portfolio wrong type", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "portfolio": "core"}, "portfolio"),
    ("order unknown symbol", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "symbol": "NOSUCH"}, "symbol"),
    ("order bad side", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "side": "SIDEWAYS"}, "side"),
    ("order NaN limit price", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "order_type": "LIMIT", "limit_price": "NaN"}, "limit_price"),
    ("order NUL in client id", "trader", "/api/v1/orders/", "orders_app.Order", {**ORDER, "client_order_id": NUL}, "client_order_id"),
    ("limit negative threshold", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "threshold": "-1"}, "threshold"),
    ("limit infinite threshold", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "threshold": "Infinity"}, "threshold"),
    ("limit unknown kind", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "kind": "max_fun"}, "kind"),
    ("limit unknown portfolio", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "scope": "portfolio", "scope_key": "987654"}, "scope_key"),
    ("limit non-ASCII digit portfolio", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "scope": "portfolio", "scope_key": "\u00b2"}, "scope_key"),
    ("limit no reason", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {k: v for k, v in LIMIT.items() if k != "reason"}, "reason"),
    ("limit RTL override in name", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "name": RTL_OVERRIDE}, "name"),
    ("limit lone surrogate in name", "risk", "/api/v1/risk/limits/", "risk_app.RiskLimit", {**LIMIT, "name": LONE_SURROGATE}, "name"),
    ("reject blank reason", "trader", "/api/v1/proposals/{proposal}/reject/", "portfolio_app.RebalanceProposal.REJECTED", {"reason": "   "}, "reason"),
    ("reject NUL in reason", "trader", "/api/v1/proposals/{proposal}/reject/", "portfolio_app.RebalanceProposal.REJECTED", {"reason": NUL}, "reason"),
    ("reject reason too long", "trader", "/api/v1/proposals/{proposal}/reject/", "portfolio_app.RebalanceProposal.REJECTED", {"reason": "x" * 5000}, "reason"),
    ("reject reason wrong type", "trader", "/api/v1/proposals/{proposal}/reject/", "portfolio_app.RebalanceProposal.REJECTED", {"reason": {"why": 1}}, "reason"),
    ("backtest end before start", "trader", "/api/v1/backtests/", "execution_app.ScenarioRun", {**BACKTEST, "end": "2020-01-02"}, "end"),
    ("backtest impossible date", "trader", "/api/v1/backtests/", "execution_app.ScenarioRun", {**BACKTEST, "start": "2021-02-30"}, "start"),
    ("backtest negative capital", "trader", "/api/v1/backtests/", "execution_app.ScenarioRun", {**BACKTEST, "capital": "-1"}, "capital"),
    ("backtest unknown strategy", "trader", "/api/v1/backtests/", "execution_app.ScenarioRun", {**BACKTEST, "strategy": "moon"}, "strategy"),
    ("backtest unknown portfolio", "trader", "/api/v1/backtests/", "execution_app.ScenarioRun", {**BACKTEST, "portfolio": "Nobody's"}, "portfolio"),
    ("agent negative weight", "admin", "/api/v1/agents/", "signals_app.Agent", {**AGENT, "weight": "-1"}, "weight"),
    ("agent unknown type", "admin", "/api/v1/agents/", "signals_app.Agent", {**AGENT, "type": "oracle"}, "type"),
    ("agent unknown owner", "admin", "/api/v1/agents/", "signals_app.Agent", {**AGENT, "owner": "nobody"}, "owner"),
    ("agent config wrong type", "admin", "/api/v1/agents/", "signals_app.Agent", {**AGENT, "config": [1, 2]}, "config"),
    ("agent NUL in name", "admin", "/api/v1/agents/", "signals_app.Agent", {**AGENT, "name": NUL}, "name"),
    ("agent RTL override in name", "admin", "/api/v1/agents/", "signals_app.Agent", {**AGENT, "name": RTL_OVERRIDE}, "name"),
]

# Bodies that are not JSON a client could mean: a 400 (or 415), nothing saved.
MALFORMED = ['{"agent": ', "[1, 2", "\x00", '{"a": NaN}', "null", '"just a string"']
WRITE_ENDPOINTS = [
    ("api", "/api/v1/signals/", "signals_app.Signal"),
    ("trader", "/api/v1/orders/", "orders_app.Order"),
    ("risk", "/api/v1/risk/limits/", "risk_app.RiskLimit"),
    ("trader", "/api/v1/proposals/{proposal}/reject/", "portfolio_app.RebalanceProposal.REJECTED"),
    ("trader", "/api/v1/backtests/", "execution_app.ScenarioRun"),
    ("admin", "/api/v1/agents/", "signals_app.Agent"),
]


@pytest.fixture
def desk(demo_small, api_for):
    from django.contrib.auth import get_user_model

    from ops_app import demo
    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from portfolio_app.models import Portfolio
    from execution_app.rebalance.services import proposal_create

    set_clock(SteppedClock(MARKET_NOW))
    users = get_user_model().objects
    clients = {role: api_for(users.get(username=name)) for role, name in
               (("api", demo.DEMO_API_CLIENT), ("trader", "trader"), ("risk", "risk"), ("admin", "admin"))}
    pf = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
    proposal = proposal_create(portfolio_id=pf.pk, trigger="bad input")
    yield {"clients": clients, "ids": {"pf": pf.pk, "proposal": proposal.pk}}
    set_clock(None)


def _count(spec: str) -> int:
    from django.apps import apps

    app, model, *status = spec.split(".")
    qs = apps.get_model(app, model).objects.all()
    return qs.filter(status=status[0]).count() if status else qs.count()


def _fill(value, ids):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _post_raw(client, path: str, raw: str | bytes):
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return client.post(path, data, content_type="application/json")


@pytest.mark.parametrize(("case", "role", "path", "model", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_write_when_bad_input_then_400_naming_the_field_and_nothing_saved(desk, case, role, path, model, body, field):
    path = path.format(**desk["ids"])
    before = _count(model)
    # json.dumps escapes a lone surrogate as \ud800, exactly as a buggy client would send it.
    response = _post_raw(desk["clients"][role], path, json.dumps(_fill(body, desk["ids"])))
    assert response.status_code == 400, (response.status_code, response.content[:300])
    if field is None:
        assert response.json()["code"] == "parse_error" and response.json()["message"], response.json()
    else:
        assert field in error_fields(response), response.json()
    assert _count(model) == before


@pytest.mark.parametrize(("role", "path", "model"), WRITE_ENDPOINTS, ids=[w[1] for w in WRITE_ENDPOINTS])
@pytest.mark.parametrize("raw", MALFORMED, ids=["truncated", "unclosed", "nul", "nan", "null", "string"])
def test_write_when_body_is_not_the_json_object_expected_then_400_with_a_sentence_and_nothing_saved(desk, role, path, model, raw):
    path = path.format(**desk["ids"])
    before = _count(model)
    response = _post_raw(desk["clients"][role], path, raw)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert {"code", "message", "errors"} <= set(body) and body["message"], body
    assert _count(model) == before


@pytest.mark.parametrize(("role", "method", "path"), [
    ("trader", "post", "/api/v1/proposals/987654/reject/"), ("risk", "patch", "/api/v1/risk/limits/987654/"),
    ("trader", "post", "/api/v1/orders/987654/cancel/"), ("admin", "patch", "/api/v1/agents/987654/"),
])
def test_write_when_unknown_id_in_the_path_then_404_in_the_error_format(desk, role, method, path):
    send = getattr(desk["clients"][role], method)
    response = send(path, json.dumps({"reason": "x", "threshold": "1"}), content_type="application/json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_signal_batch_when_one_item_bad_then_its_index_and_field_named_and_none_saved(desk):
    before = _count("signals_app.Signal")
    items = [{**SIGNAL, "client_signal_id": f"ok-{i}"} for i in range(3)]
    items[1]["confidence"] = -0.1
    response = desk["clients"]["api"].post("/api/v1/signals/", json.dumps(items), content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert {"code", "message", "errors"} <= set(body) and body["code"] == "invalid"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "confidence")]
    assert _count("signals_app.Signal") == before
