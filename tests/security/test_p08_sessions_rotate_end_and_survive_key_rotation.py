"""Property 8: sessions get a new id at login (the pre-login state is dropped), cookies are
HttpOnly + SameSite=Lax (+ Secure and __Host- under https), logout and expiry end them on the
server, and SECRET_KEY_FALLBACKS rotates keys without signing everyone out (OWASP ASVS V3)."""
from app import create_app
from app.config import from_env

from ..support.assertions import cookie_value, log_in
from ..support.phone import Phone


def test_property_08_login_issues_a_new_session_and_ends_the_old_one(app, browser, phone, other_phone):
    first = cookie_value(log_in(browser, phone), "qrl_session")
    second = cookie_value(log_in(browser, other_phone), "qrl_session")
    assert first and second and first != second
    assert browser.get("/api/me").get_json()["user"]["id"] == other_phone.user["id"]
    old = app.test_client()
    old.set_cookie("qrl_session", first)
    assert old.get("/api/me").status_code == 401


def test_property_08_a_planted_session_cookie_is_not_kept_at_login(app, browser, phone):
    # Session fixation: a cookie set before login must not become the logged-in session.
    browser.set_cookie("qrl_session", "planted-by-attacker")
    issued = cookie_value(log_in(browser, phone), "qrl_session")
    assert issued != "planted-by-attacker"
    attacker = app.test_client()
    attacker.set_cookie("qrl_session", "planted-by-attacker")
    assert attacker.get("/api/me").status_code == 401


def test_property_08_session_cookie_is_httponly_and_samesite_lax(browser, phone):
    header = log_in(browser, phone).headers["Set-Cookie"]
    assert header.startswith("qrl_session=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header


def test_property_08_under_https_cookies_are_secure_with_the_host_prefix(config):
    app = create_app({**config, "PUBLIC_BASE_URL": "https://login.example.com"})
    browser = app.test_client()
    base = "https://login.example.com"
    ticket = browser.post("/api/tickets", base_url=base).get_json()
    phone = Phone(app.test_client(), "ok-hana").login()
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    header = browser.get(f"/api/tickets/{ticket['ticket_id']}", base_url=base).headers["Set-Cookie"]
    assert header.startswith("__Host-qrl_session=")
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Domain" not in header


def test_property_08_logout_ends_the_session_on_the_server(app, browser, phone):
    token = cookie_value(log_in(browser, phone), "qrl_session")
    assert browser.post("/api/logout", json={}).get_json() == {"logged_out": True}
    replay = app.test_client()
    replay.set_cookie("qrl_session", token)
    assert replay.get("/api/me").status_code == 401


def test_property_08_expiry_ends_the_session_on_the_server(app, browser, phone, clock):
    token = cookie_value(log_in(browser, phone), "qrl_session")
    clock.advance(app.config["SESSION_TTL_SECONDS"] + 1)
    replay = app.test_client()
    replay.set_cookie("qrl_session", token)  # a browser ignoring Max-Age
    assert replay.get("/api/me").status_code == 401


def test_property_08_secret_key_fallbacks_is_a_list_flask_understands():
    config = from_env({"APP_ENV": "development", "SECRET_KEY_FALLBACKS": "old-1, old-2"})
    assert config["SECRET_KEY_FALLBACKS"] == ["old-1", "old-2"]
    assert from_env({"APP_ENV": "development"})["SECRET_KEY_FALLBACKS"] == []


def test_property_08_key_rotation_keeps_tokens_valid_until_the_old_key_is_dropped(config, ticket):
    old_app = create_app({**config, "SECRET_KEY": "old-key"})
    phone = Phone(old_app.test_client(), "ok-ines").login()
    rotated = create_app({**config, "SECRET_KEY": "new-key", "SECRET_KEY_FALLBACKS": ["old-key"]})
    assert rotated.config["SECRET_KEY_FALLBACKS"] == ["old-key"]
    client = rotated.test_client()
    assert client.get("/api/mp/me", headers=phone.headers()).status_code == 200
    # New tokens are signed with the new key...
    fresh = Phone(rotated.test_client(), "ok-ines").login()
    new_only = create_app({**config, "SECRET_KEY": "new-key"})
    assert new_only.test_client().get("/api/mp/me", headers=fresh.headers()).status_code == 200
    # ...and once the old key is dropped, tokens signed with it stop working.
    assert new_only.test_client().get("/api/mp/me", headers=phone.headers()).status_code == 401
