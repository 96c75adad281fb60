"""PC login sessions: cookie, /api/me, logout, rotation."""
import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession

from .support.assertions import log_in


def test_me_without_a_session_is_401(browser):
    response = browser.get("/api/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "not_authenticated"


def test_logout_ends_the_session_on_the_server(browser, phone):
    login = log_in(browser, phone)
    token = login.headers["Set-Cookie"].split("qrl_session=")[1].split(";")[0]
    assert browser.get("/api/me").status_code == 200
    response = browser.post("/api/logout", json={})
    assert response.status_code == 200 and response.get_json() == {"logged_out": True}
    assert browser.get("/api/me").status_code == 401
    # Replaying the old cookie (say, copied before logout) no longer works.
    browser.set_cookie("qrl_session", token)
    assert browser.get("/api/me").status_code == 401


def test_logout_refuses_a_cross_site_form_post(browser, phone):
    log_in(browser, phone)
    response = browser.post("/api/logout", data={"x": "1"})
    assert response.status_code == 415
    assert browser.get("/api/me").status_code == 200


def test_logging_in_again_rotates_the_session(app, browser, phone):
    first = log_in(browser, phone).headers["Set-Cookie"].split("qrl_session=")[1].split(";")[0]
    second = log_in(browser, phone).headers["Set-Cookie"].split("qrl_session=")[1].split(";")[0]
    assert first != second
    assert browser.get("/api/me").status_code == 200
    old = app.test_client()
    old.set_cookie("qrl_session", first)
    assert old.get("/api/me").status_code == 401


def test_session_expires(browser, phone, clock):
    log_in(browser, phone)
    clock.advance(14 * 24 * 3600 + 1)
    assert browser.get("/api/me").status_code == 401


def test_session_row_records_where_the_login_happened(app, browser, phone):
    log_in(browser, phone)
    with app.app_context():
        row = db.session.scalar(sa.select(LoginSession))
        assert row.ip == "127.0.0.1"
        assert row.user_agent.startswith("Werkzeug")
        assert row.user.public_id == phone.user["id"]
        assert len(row.token_hash) == 64


def test_last_seen_is_refreshed(app, browser, phone, clock):
    log_in(browser, phone)
    clock.advance(3600)
    assert browser.get("/api/me").status_code == 200
    with app.app_context():
        row = db.session.scalar(sa.select(LoginSession))
        assert (row.last_seen_at - row.created_at).total_seconds() >= 3600


def test_cookies_are_secure_under_https(config, fake_wechat):
    from app import create_app

    from .support.phone import Phone

    app = create_app({**config, "PUBLIC_BASE_URL": "https://login.example.com"})
    browser = app.test_client()
    created = browser.post("/api/tickets", base_url="https://login.example.com")
    bind_cookie = created.headers["Set-Cookie"]
    assert bind_cookie.startswith("__Host-qrl_bind=") and "Secure" in bind_cookie and "HttpOnly" in bind_cookie
    ticket = created.get_json()
    phone = Phone(app.test_client(), "ok-gina").login()
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    answer = browser.get(f"/api/tickets/{ticket['ticket_id']}", base_url="https://login.example.com")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("__Host-qrl_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
