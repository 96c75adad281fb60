"""Every bad input gets a JSON error with the right status, and changes nothing."""
import pytest

from .support.assertions import assert_error


@pytest.mark.parametrize("wait", ["abc", "-1", "26", "nan", "inf", "1e9", "0x10"])
def test_malformed_wait_is_400(browser, ticket, wait):
    assert_error(browser.get(f"/api/tickets/{ticket['ticket_id']}?wait={wait}"), 400, "invalid_request")


@pytest.mark.parametrize("since", ["PENDING", "done", "'; drop table tickets; --"])
def test_malformed_since_is_400(browser, ticket, since):
    assert_error(browser.get(f"/api/tickets/{ticket['ticket_id']}", query_string={"since": since}), 400)


@pytest.mark.parametrize("ticket_id", ["x", "A" * 33, "bad%20id", "%00", "..%2F..%2Fetc"])
def test_malformed_ticket_ids_are_404(browser, phone, ticket_id):
    assert_error(browser.get(f"/api/tickets/{ticket_id}"), 404)
    assert_error(phone.post(ticket_id, "scan"), 404)


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"code"', "application/json"),
        ('{"code": 5}', "application/json"),
        ('{"code": ""}', "application/json"),
        ('{"code": null}', "application/json"),
        ("{}", "application/json"),
        ('{"code": "' + "x" * 200 + '"}', "application/json"),
    ],
)
def test_malformed_login_bodies_are_400(app, body, content_type):
    response = app.test_client().post("/api/mp/login", data=body, content_type=content_type)
    assert_error(response, 400)


def test_form_encoded_login_is_415(app):
    response = app.test_client().post("/api/mp/login", data={"code": "ok-x"})
    assert_error(response, 415, "unsupported_media_type")


def test_form_encoded_scan_is_refused(phone, ticket):
    response = phone.client.post(f"/api/mp/tickets/{ticket['ticket_id']}/scan", data={"a": "b"},
                                 headers=phone.headers())
    assert_error(response, 415)


def test_body_over_one_megabyte_is_413(app):
    response = app.test_client().post("/api/mp/login", data="x" * (1024 * 1024 + 1), content_type="application/json")
    assert_error(response, 413, "request_entity_too_large")


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"nickname": ""},
        {"nickname": "x" * 33},
        {"nickname": 7},
        {"nickname": "bad\u0000name"},
        {"avatar_url": "http://img.example.com/a.png"},
        {"avatar_url": "javascript:alert(1)"},
        {"avatar_url": "https://"},
        {"avatar_url": "https://x/" + "a" * 600},
    ],
)
def test_invalid_profiles_are_400_and_change_nothing(phone, fields):
    assert phone.set_profile(nickname="Alice").status_code == 200
    assert_error(phone.set_profile(**fields), 400, "invalid_request")
    me = phone.client.get("/api/mp/me", headers=phone.headers()).get_json()["user"]
    assert me["nickname"] == "Alice" and me["avatar_url"] == ""


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer nonsense", "Basic abc", "Bearer a.b.c"])
def test_missing_or_bad_token_is_401(app, ticket, header):
    headers = {"Authorization": header} if header is not None else {}
    response = app.test_client().post(f"/api/mp/tickets/{ticket['ticket_id']}/scan", headers=headers)
    assert_error(response, 401, "invalid_token")


def test_token_signed_with_another_key_is_401(config, ticket, phone):
    from app import create_app

    other = create_app({**config, "SECRET_KEY": "another-key"})
    response = other.test_client().post(f"/api/mp/tickets/{ticket['ticket_id']}/scan", headers=phone.headers())
    assert_error(response, 401)


def test_unknown_path_and_method_are_json(browser):
    assert_error(browser.get("/api/nothing-here"), 404, "not_found")
    response = browser.delete("/api/tickets")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_api_answers_are_never_cached(browser, ticket):
    assert browser.get(f"/api/tickets/{ticket['ticket_id']}").headers["Cache-Control"] == "no-store"
    assert browser.get("/api/me").headers["Cache-Control"] == "no-store"


def test_unexpected_failure_is_a_json_500(app, monkeypatch, browser):
    from app import tickets

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tickets, "create", broken)
    assert_error(browser.post("/api/tickets"), 500, "internal_error")
