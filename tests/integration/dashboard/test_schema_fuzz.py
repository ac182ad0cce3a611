"""Property-based run of the whole API from its own OpenAPI schema (schemathesis): whatever the
generated parameters, the service never answers with a 5xx, and its answers match the schema."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance


@pytest.fixture(scope="module")
def api_schema(dashboard):
    return schemathesis.openapi.from_url(f"{dashboard}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
                           timeout=10)
