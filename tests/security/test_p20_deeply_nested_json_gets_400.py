"""Property 20: deeply nested JSON gets 400 invalid_request from the one JSON reader, never a 500
(the parser's RecursionError), on every endpoint that reads a JSON body."""
import pytest

from ..support.assertions import assert_error

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_property_20_nested_json_is_a_clear_400(app, browser, phone, body):
    app.testing = False  # a crash must come back as the 500 answer, not as an exception here
    answers = [
        browser.post("/api/logout", data=body, content_type="application/json"),
        browser.post("/api/tickets", data=body, content_type="application/json"),
        phone.client.post("/api/mp/login", data=body, content_type="application/json"),
        phone.client.patch("/api/mp/me", data=body, content_type="application/json", headers=phone.headers()),
        phone.client.post("/api/mp/logout", data=body, content_type="application/json", headers=phone.headers()),
    ]
    for answer in answers:
        assert_error(answer, 400, "invalid_request")
