"""Schemathesis against the generated OpenAPI schema: no 5xx, no schema violations, for every
operation and each role's token. A bounded run in CI; `make fuzz` runs a long one."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.checks import not_a_server_error

import os

ROLES = ["admin", "trader", "risk", "api"]
# A bounded run in CI; `make fuzz` sets DESK_FUZZ_EXAMPLES=300.
EXAMPLES = int(os.environ.get("DESK_FUZZ_EXAMPLES", "8"))


@pytest.fixture(params=ROLES)
def role(request):
    return request.param


@pytest.fixture
def api_schema(db, demo_small):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's test client does: the WSGI handler must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    app = get_wsgi_application()
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", app, headers={"Authorization": f"Token {_token('admin')}"})
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token(role: str) -> str:
    from rest_framework.authtoken.models import Token

    from execution_app.demo import DEMO_API_CLIENT

    username = {"admin": "admin", "trader": "trader", "risk": "risk", "api": DEMO_API_CLIENT}[role]
    return Token.objects.get(user__username=username).key


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_when_fuzzed_then_no_server_error_and_responses_match_schema(case, role):
    from django.core.cache import cache

    cache.clear()  # throttling is tested elsewhere; here every example must reach the view
    response = case.call(headers={"Authorization": f"Token {_token(role)}"})
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
