"""Property 12: inputs. Bodies are size-limited (JSON 413), unknown JSON fields are ignored
everywhere, wrong types get a JSON 400 (never a 500), ticket and session answers are never
cached, `next` only goes to this site (no open redirect), and cross-site form posts cannot reach
the mini-program API or log the browser out (CSRF)."""
import pytest

from app.pc.pages import safe_next

from ..support.assertions import assert_error, log_in


def test_property_12_body_over_the_limit_is_a_json_413(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    response = app.test_client().post("/api/mp/login", data="{" + " " * (1024 * 1024) + "}",
                                      content_type="application/json")
    assert_error(response, 413)


def test_property_12_unknown_json_fields_are_ignored_everywhere(app, browser, phone):
    extra = {"id": 999, "user_id": 999, "openid": "o-someone", "status": "confirmed", "admin": True}
    signed_in = app.test_client().post("/api/mp/login", json={"code": "ok-alice", **extra})
    assert signed_in.status_code == 200 and signed_in.get_json()["user"]["id"] == phone.user["id"]
    updated = phone.set_profile(nickname="Alice", **extra)
    assert updated.status_code == 200 and updated.get_json()["user"]["id"] == phone.user["id"]
    created = browser.post("/api/tickets", json=extra)
    assert created.status_code == 201 and created.get_json()["status"] == "pending"
    ticket_id = created.get_json()["ticket_id"]
    scanned = phone.client.post(f"/api/mp/tickets/{ticket_id}/scan", json=extra, headers=phone.headers())
    assert scanned.status_code == 200 and scanned.get_json()["status"] == "scanned"
    confirmed = phone.client.post(f"/api/mp/tickets/{ticket_id}/confirm", json=extra, headers=phone.headers())
    assert confirmed.status_code == 200
    assert browser.post("/api/logout", json=extra).status_code == 200


@pytest.mark.parametrize("path, method, body", [
    ("/api/mp/login", "post", {"code": 5}),
    ("/api/mp/login", "post", {"code": ["ok-alice"]}),
    ("/api/mp/login", "post", {"code": {"a": 1}}),
    ("/api/mp/login", "post", {"code": True}),
    ("/api/mp/login", "post", [{"code": "ok-alice"}]),
    ("/api/mp/me", "patch", {"nickname": 5}),
    ("/api/mp/me", "patch", {"avatar_url": ["https://x.example/a.png"]}),
    ("/api/mp/me", "patch", {"nickname": None, "avatar_url": None}),
    ("/api/mp/me", "patch", "just a string"),
])
def test_property_12_wrong_types_are_a_json_400(phone, path, method, body):
    response = getattr(phone.client, method)(path, json=body, headers=phone.headers())
    assert_error(response, 400)


@pytest.mark.parametrize("query", ["wait=x", "wait=-1", "wait=1e999", "since=nope", "since=", "wait="])
def test_property_12_wrong_query_types_are_a_json_400_never_500(browser, ticket, query):
    response = browser.get(f"/api/tickets/{ticket['ticket_id']}?{query}")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert_error(response, 400, "invalid_request")


def test_property_12_every_ticket_and_session_answer_is_no_store(app, browser, stranger, phone, other_phone):
    answers = []
    created = browser.post("/api/tickets")
    ticket_id = created.get_json()["ticket_id"]
    answers += [created, browser.get(f"/api/tickets/{ticket_id}"), stranger.get(f"/api/tickets/{ticket_id}"),
                browser.get("/api/tickets/unknown-ticket"), browser.get("/api/me")]
    answers += [phone.scan(ticket_id), other_phone.confirm(ticket_id), phone.confirm(ticket_id)]
    answers += [browser.get(f"/api/tickets/{ticket_id}"), browser.get(f"/api/tickets/{ticket_id}"),
                browser.get("/api/me")]
    answers += [phone.client.get("/api/mp/sessions", headers=phone.headers()),
                phone.client.delete("/api/mp/sessions/999999", headers=phone.headers()),
                phone.client.get("/api/mp/me", headers=phone.headers()),
                app.test_client().post("/api/mp/login", json={"code": "ok-alice"}),
                browser.post("/api/logout", json={})]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.path


@pytest.mark.parametrize("value", [
    "https://evil.example.com/", "//evil.example.com/", "/\\evil.example.com", "\\\\evil.example.com",
    "javascript:alert(1)", "http:/evil.example.com", "/\t/evil.example.com", "", None,
])
def test_property_12_next_accepts_only_relative_same_site_paths(value):
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", ["/", "/account", "/account?tab=2#x"])
def test_property_12_next_keeps_a_local_path(value):
    assert safe_next(value) == value


@pytest.mark.parametrize("action", ["scan", "confirm", "cancel"])
def test_property_12_mini_program_refuses_form_encoded_posts(phone, ticket, action):
    response = phone.client.post(f"/api/mp/tickets/{ticket['ticket_id']}/{action}", data={"x": "1"},
                                 headers=phone.headers())
    assert_error(response, 415, "unsupported_media_type")
    assert_error(phone.client.post("/api/mp/login", data={"code": "ok-alice"}), 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"])
def test_property_12_logout_cannot_be_forged_by_a_cross_site_form(browser, phone, content_type):
    log_in(browser, phone)
    response = browser.post("/api/logout", data="x=1", content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert browser.get("/api/me").status_code == 200
