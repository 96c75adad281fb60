"""Property 13 (first half): /openapi.json describes the API the server really has, and a fuzzer
(schemathesis) driving the app in-process with generated input never gets a 5xx, an undocumented
status code or an answer outside the described shapes."""
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

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


def test_property_14_fuzzed_requests_match_the_openapi_description(app):
    # Signed in, so the mini-program calls get past the token check and reach the ticket logic.
    bearer = {"Authorization": "Bearer " + Phone(app.test_client(), "ok-fuzzer").login().token}
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
            case.call_and_validate(headers=bearer, checks=CHECKS)

        call_and_check()
