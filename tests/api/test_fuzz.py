"""Schemathesis against the generated OpenAPI schema: no 5xx, no schema violations, for every
operation and each role's token. A bounded run in CI; `make fuzz` sets DESK_FUZZ_EXAMPLES=300.

Operations are driven one by one with Hypothesis (rather than schemathesis's pytest plugin),
so every failure of every operation is collected and reported together.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ROLES = ["admin", "trader", "risk", "api"]
EXAMPLES = int(os.environ.get("DESK_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _token(role: str) -> str:
    from rest_framework.authtoken.models import Token

    from ops_app.demo import DEMO_API_CLIENT

    username = {"admin": "admin", "trader": "trader", "risk": "risk", "api": DEMO_API_CLIENT}[role]
    return Token.objects.get(user__username=username).key


@pytest.fixture
def wsgi_app(db, demo_small):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's test client does: the WSGI handler must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_when_fuzzed_for_every_role_then_no_server_error_and_responses_match_schema(wsgi_app):
    from django.core.cache import cache

    tokens = {role: _token(role) for role in ROLES}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, headers={"Authorization": f"Token {tokens['admin']}"})
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        @given(case=operation.as_strategy())
        def exercise(case):
            cache.clear()  # throttling has its own test; here every example must reach the view
            for role in ROLES:
                response = case.call(headers={"Authorization": f"Token {tokens[role]}"})
                case.validate_response(response, checks=CHECKS)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:  # collected: one report for every failing operation
            failures.append(f"{operation.label}: {str(exc).strip()[:600]}")
    assert operations >= 30, f"only {operations} operations in the schema"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)
