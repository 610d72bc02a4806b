"""Replays tests/api/authorization_matrix.MATRIX (the one table of who may do what) against a desk,
checks it covers every API operation and every page, and that docs/security.md is that table."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction

from tests.api.authorization_matrix import MATRIX, ROLES, A, P, W, render

MARKET_NOW = datetime(2022, 6, 1, 15, 0, tzinfo=timezone.utc)
DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


@pytest.fixture
def desk(demo_small, monkeypatch, settings):
    """The demo desk on a stepped clock, plus another trader's portfolio and one object of each kind."""
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from ops_app import demo
    from desk import roles
    from execution_app.scenarios import services as scenario_services
    from desk import tasks as desk_tasks
    from ops_app.accounts import desk_user_create
    from desk.clock import SteppedClock
    from market_app.clock import set_clock
    from signals_app.models import Agent
    from orders_app.submission import order_place
    from market_app.models import Instrument
    from portfolio_app.models import Portfolio
    from execution_app.rebalance.services import proposal_create, proposal_request
    from risk_app import services as risk
    from ops_app.models import AlertRule
    from risk_app.models import RiskLimit

    set_clock(SteppedClock(MARKET_NOW))
    send = desk_tasks.enqueue
    monkeypatch.setattr(desk_tasks, "enqueue", lambda name, *a, **k: None if name == "signals_app.tasks.agent_run" else send(name, *a, **k))  # a run is not needed
    cache.clear()
    users = get_user_model().objects
    trader, admin, risk1, risk2 = (users.get(username=u) for u in ("trader", "admin", "risk", "risk2"))
    bot = users.get(username=demo.DEMO_API_CLIENT)
    other_trader, _, _ = desk_user_create(username="trader2", role=roles.TRADER, password="correct-horse-battery-9")
    own = Portfolio.objects.get(name=demo.DEMO_PORTFOLIO)
    other = Portfolio.objects.create(
        name="Other Book", cash=Decimal("1000000.00"), benchmark=own.benchmark, strategy=own.strategy,
        strategy_params=own.strategy_params, constraints=own.constraints, rebalance_policy=own.rebalance_policy,
    )
    other.traders.add(other_trader)
    symbol = Instrument.objects.exclude(pk=own.benchmark_id).order_by("symbol").values_list("symbol", flat=True).first()
    own_proposal = proposal_create(portfolio_id=own.pk, trigger="matrix")
    other_proposal, _ = proposal_request(portfolio_id=other.pk, trigger="matrix", actor=other_trader, enqueue=False)
    own_order = order_place(user=trader, portfolio_id=own.pk, symbol=symbol, side="BUY", quantity=Decimal("10"))
    other_order = order_place(user=other_trader, portfolio_id=other.pk, symbol=symbol, side="BUY", quantity=Decimal("10"))
    limit = RiskLimit.objects.filter(kind="max_order_qty", scope="desk").first()
    change = risk.limit_update(limit_id=limit.pk, actor=risk2, reason="loosen", threshold=Decimal("300000")).pending
    halted = Portfolio.objects.create(name="Halted Book", cash=Decimal("1000.00"))  # a kill switch awaiting re-arm
    scope = f"portfolio:{halted.pk}"
    risk.trading_state_set(scope=scope, state="HALTED", actor=risk2, reason="matrix")
    rearm = risk.trading_state_set(scope=scope, state="ACTIVE", actor=risk2, reason="matrix").rearm
    own_alert, _ = risk.alert_raise(kind="limit", key="matrix.own", message="own", portfolio_id=own.pk)
    other_alert, _ = risk.alert_raise(kind="limit", key="matrix.other", message="other", portfolio_id=other.pk)
    run = scenario_services.backtest_create(user=admin, values={
        "strategy": "equal_weight", "start": date(2021, 1, 4), "end": date(2021, 3, 31)})
    own_paper = scenario_services.paper_run_start(portfolio=own, user=trader)
    other_paper = scenario_services.paper_run_start(portfolio=other, user=other_trader)
    rule = AlertRule.objects.first() or AlertRule.objects.create(name="Matrix rule", kind="error_rate", threshold=5)
    own_agent = Agent.objects.filter(owner=bot).first()
    other_agent = Agent.objects.exclude(owner=bot).first()
    from orders_app.models import Venue

    venue = Venue.objects.order_by("code").first()
    from fix_app.services import break_record

    recon_break = break_record(venue=venue, kind="position", detail={"why": "matrix", "symbol": symbol})
    from ops_app.eod.services import eod_report_generate

    from market_app.clock import get_clock

    closed = get_clock().last_closed_session()
    own_eod, other_eod, desk_eod = (eod_report_generate(session=closed, portfolio=p) for p in (own, other, None))
    from ops_app.rollout import stages as rollout_stages
    from portfolio_app.strategy_versions import strategy_update

    candidate = {"strategy_params": {**(own.strategy_params or {}), "lookback_days": 504}}
    rollout = rollout_stages.rollout_create(actor=admin, name="Matrix rollout", portfolio_ids=[other.pk],
                                            candidate=candidate, reason="matrix", shadow_now=False)
    promoted = rollout_stages.rollout_create(actor=admin, name="Matrix promoted", portfolio_ids=[halted.pk],
                                             candidate=candidate, reason="matrix", shadow_now=False)
    promotion = rollout_stages.rollout_promotion_request(actor=admin, rollout_id=promoted.pk, reason="matrix",
                                                         canary_ids=[halted.pk])
    strategy_update(actor=admin, portfolio_id=own.pk, reason="matrix", **candidate)
    ids = {
        "rollout": rollout.pk, "promotion": promotion.pk, "v1": 1,
        "own_pf": own.pk, "other_pf": other.pk, "own_proposal": own_proposal.pk, "other_proposal": other_proposal.pk,
        "own_order": own_order.pk, "other_order": other_order.pk, "limit": limit.pk, "change": change.pk,
        "rearm": rearm.pk, "own_alert": own_alert.pk, "other_alert": other_alert.pk, "run": run.pk,
        "own_paper": own_paper.pk, "other_paper": other_paper.pk, "rule": rule.pk, "own_agent": own_agent.pk,
        "other_agent": other_agent.pk, "own_agent_name": own_agent.name, "other_agent_name": other_agent.name,
        "symbol": symbol, "venue": venue.pk, "venue_code": venue.code, "recon_break": recon_break.pk,
        "other_trader": other_trader.pk, "instrument": Instrument.objects.get(symbol=symbol).pk,
        "own_eod": own_eod.pk, "other_eod": other_eod.pk, "desk_eod": desk_eod.pk,
    }
    yield {"ids": ids, "users": {"trader": trader, "risk": risk1, "api": bot, "admin": admin}}
    set_clock(None)


def _fill(value, ids):
    """Placeholders in paths and bodies -> the desk's ids (a whole-value placeholder keeps the id's type)."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole and whole.group(1) in ids:
            return ids[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _call(surface, method, path, body, user):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    client = Client(raise_request_exception=False)
    headers = {}
    if user is not None and surface == A:
        headers["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    elif user is not None:
        client.force_login(user)
    send = getattr(client, method.lower())
    if surface == A and method != "GET":
        return send(path, data=json.dumps(body if body is not None else {}), content_type="application/json", **headers)
    return send(path, data=body or {}, **headers) if method in ("GET", "POST") else send(path, **headers)


def test_matrix_when_every_row_replayed_for_every_role_then_each_gets_exactly_its_status(desk):
    from django.core.cache import cache

    ids, users = desk["ids"], desk["users"]
    mismatches = []
    for surface, method, path, body, expected, _rule in MATRIX:
        if surface == W:
            continue
        for role, want in zip(ROLES, expected):
            cache.clear()  # throttles and axes counters: authorisation only here
            with transaction.atomic():
                response = _call(surface, method, _fill(path, ids), _fill(body, ids), users.get(role))
                transaction.set_rollback(True)  # every request sees the same desk
            ok = response.status_code in want if isinstance(want, tuple) else response.status_code == want
            if not ok:
                detail = response.content[:160].decode(errors="replace").replace("\n", " ")
                mismatches.append(f"{method} {path} as {role}: {response.status_code}, table says {want}  {detail}")
    assert not mismatches, f"{len(mismatches)} cells differ from the table:\n" + "\n".join(mismatches)


def test_matrix_when_socket_groups_computed_then_each_role_joins_exactly_its_groups(desk):
    from execution_app.consumers import groups_for_user

    ids, users = desk["ids"], desk["users"]
    mismatches = []
    for surface, method, name, _body, expected, _rule in MATRIX:
        if surface != W or method != "GROUP":
            continue
        for role, want in zip(ROLES, expected):
            user = users.get(role)
            joined = name.format(**ids) in (groups_for_user(user) if user else [])
            if joined != bool(want):
                mismatches.append(f"group {name} for {role}: {'joins' if joined else 'not joined'}, table says {want}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_matrix_when_each_role_opens_the_socket_then_accepted_or_closed_as_the_table_says(make_user):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from config.asgi import application
    from desk import roles

    [row] = [r for r in MATRIX if r[0] == W and r[1] == "CONNECT"]
    role_names = {"trader": roles.TRADER, "risk": roles.RISK_OFFICER, "api": roles.API_CLIENT, "admin": roles.ADMIN}

    def cookie_for(role):
        if role == "anonymous":
            return None
        client = Client()
        client.force_login(make_user(f"ws-{role}", role_names[role]))
        return client.cookies["sessionid"].value

    for role, want in zip(ROLES, row[4]):
        cookie = await sync_to_async(cookie_for)(role)
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        comm = WebsocketCommunicator(application, row[2], headers=headers)
        connected, code = await comm.connect()
        got = 101 if connected else code
        await comm.disconnect()
        assert got == want, f"{role}: {got}, table says {want}"


def test_matrix_when_compared_with_the_schema_and_urls_then_every_operation_and_page_has_a_row():
    from django.urls import URLPattern, URLResolver, get_resolver
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {(m.upper(), "/api/v1" + p if not p.startswith("/api/") else p)
                  for p, item in schema["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")}

    def as_template(path):
        path = path.split("?")[0]
        return re.sub(r"\{\w+\}", "{}", path)

    covered = {(m, as_template(p)) for s, m, p, *_ in MATRIX if s == A}
    missing = sorted(f"{m} {p}" for m, p in operations if (m, as_template(p)) not in covered)
    assert not missing, f"API operations with no row in the matrix: {missing}"

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern) in ("api/v1/", "admin/"):
                    continue
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield "/" + re.sub(r"<\w+:\w+>", "{}", prefix + str(p.pattern))

    pages = {as_template(p) for s, _m, p, *_ in MATRIX if s == P}
    missing_pages = sorted(set(walk(get_resolver().url_patterns)) - pages)
    assert not missing_pages, f"pages with no row in the matrix: {missing_pages}"


def test_security_doc_when_compared_with_the_table_then_identical():
    assert DOC.exists() and DOC.read_text() == render(), (
        "docs/security.md is out of date with tests/api/authorization_matrix.py: "
        "python -m tests.api.authorization_matrix > docs/security.md"
    )
