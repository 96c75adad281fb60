"""Property 13 (first half): /openapi.json describes the API the server really has, and a fuzzer
(schemathesis) driving the app in-process with generated input never gets a 5xx, an undocumented
status code or an answer outside the described shapes."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app

from ..support.apps import NO_LIMITS, serve
from ..support.phone import Phone

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


def _openapi_path(rule: str) -> str:
    return rule.replace("<int:", "{").replace("<", "{").replace(">", "}")


def test_property_14_openapi_lists_every_api_route_and_method(app, browser):
    response = browser.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    served = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/auth/")) or rule.rule == "/openapi.json":
            path = _openapi_path(rule.rule)
            if path.endswith("qr.{kind}"):  # described as its two real files
                for kind in ("svg", "png"):
                    served[path.replace("{kind}", kind)] = rule.methods - {"HEAD", "OPTIONS"}
            else:
                served.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    described = {path: {method.upper() for method in item} for path, item in spec["paths"].items()}
    assert described == served


@pytest.fixture
def unlimited_app(config):
    """Limits are proven elsewhere (p11, p17); here they would only cut the fuzzing short."""
    yield from serve(create_app({**config, **NO_LIMITS}))


def test_property_14_fuzzed_requests_match_the_openapi_description(unlimited_app):
    app = unlimited_app
    # Signed in, so the mini-program calls get past the token check and reach the ticket logic.
    def fresh_bearer():
        return {"Authorization": "Bearer " + Phone(app.test_client(), "ok-fuzzer").login().token}

    bearer = fresh_bearer()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    described = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item}
    # Schemathesis leaves out the document it was loaded from; everything else is fuzzed.
    assert {operation.label for operation in operations} == described - {"GET /openapi.json"}

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def call_and_check(case):
            # A logout revokes its token: each one gets its own, so the others keep theirs.
            headers = fresh_bearer() if case.path.endswith("/logout") else bearer
            case.call_and_validate(headers=headers, checks=CHECKS)

        call_and_check()
