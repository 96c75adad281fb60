"""Property 1: the QR carries only the public ticket id; polling needs the browser-binding
secret (HttpOnly cookie, stored hashed). Stops the study's "unbound session id" flaw:
whoever sees the QR (shoulder, screenshot, CCTV) cannot poll and steal the login."""

from app.extensions import db
from app.models import Ticket
from app.security import hash_secret

from ..support.assertions import assert_error, cookie_value


def test_property_01_qr_content_is_only_the_public_ticket_url(browser):
    created = browser.post("/api/tickets")
    ticket = created.get_json()
    secret = cookie_value(created, "qrl_bind")
    assert ticket["qr_content"] == f"http://localhost/qr/{ticket['ticket_id']}"
    assert secret not in ticket["qr_content"]
    header = created.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_property_01_binding_secret_is_stored_only_hashed(app, browser):
    created = browser.post("/api/tickets")
    secret = cookie_value(created, "qrl_bind").rsplit(".", 1)[0]  # the secret, then the server's signature
    with app.app_context():
        row = db.session.get(Ticket, created.get_json()["ticket_id"])
        assert row.browser_hash == hash_secret(secret) and secret not in row.browser_hash


def test_property_01_fresh_cookie_jar_gets_403_and_never_a_session(app, browser, stranger, ticket, phone):
    url = f"/api/tickets/{ticket['ticket_id']}"
    assert_error(stranger.get(url), 403, "not_bound_browser")
    phone.scan(ticket["ticket_id"])
    assert_error(stranger.get(url), 403, "not_bound_browser")
    phone.confirm(ticket["ticket_id"])
    for _ in range(3):
        refused = stranger.get(url + "?wait=1&since=pending")
        assert_error(refused, 403, "not_bound_browser")
        assert "Set-Cookie" not in refused.headers
    assert stranger.get("/api/me").status_code == 401
    # The stranger's attempts did not use the login up: the real browser still gets it.
    answer = browser.get(url)
    assert answer.get_json()["status"] == "confirmed" and cookie_value(answer, "qrl_session")
    assert_error(stranger.get(url), 403, "not_bound_browser")


def test_property_01_a_guessed_binding_cookie_is_refused(stranger, ticket):
    stranger.set_cookie("qrl_bind", "guess-" + "A" * 40)
    assert_error(stranger.get(f"/api/tickets/{ticket['ticket_id']}"), 403, "not_bound_browser")
