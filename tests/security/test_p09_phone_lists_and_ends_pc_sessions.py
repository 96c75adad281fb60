"""Property 9: the phone lists the user's logged-in PC sessions and ends any of them; the PC's
next request is logged out. Another user's session is invisible (404), and a second login in the
same browser ends the first session (OWASP ASVS V3.3: the user can end other sessions)."""
from datetime import datetime

import pytest

from ..support.assertions import assert_error, log_in


def sessions_of(phone):
    response = phone.client.get("/api/mp/sessions", headers=phone.headers())
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["sessions"]


def end(phone, session_id):
    return phone.client.delete(f"/api/mp/sessions/{session_id}", headers=phone.headers())


def test_property_09_phone_lists_only_the_users_live_pc_sessions(app, phone, other_phone):
    office, home, bobs = app.test_client(), app.test_client(), app.test_client()
    log_in(office, phone)
    log_in(home, phone)
    log_in(bobs, other_phone)
    listed = sessions_of(phone)
    assert len(listed) == 2
    for item in listed:
        assert set(item) == {"id", "ip", "user_agent", "created_at", "last_seen_at"}
        assert item["ip"] == "127.0.0.1" and item["user_agent"].startswith("Werkzeug")
        datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    assert len(sessions_of(other_phone)) == 1
    home.post("/api/logout", json={})
    assert len(sessions_of(phone)) == 1


def test_property_09_ending_a_session_logs_that_pc_out(app, phone):
    office, home = app.test_client(), app.test_client()
    log_in(office, phone)
    log_in(home, phone)
    office_id = office.get("/api/me").get_json()["session"]["id"]
    response = end(phone, office_id)
    assert response.status_code == 200 and response.get_json() == {"id": office_id, "ended": True}
    assert office.get("/api/me").status_code == 401
    assert home.get("/api/me").status_code == 200
    assert office_id not in [s["id"] for s in sessions_of(phone)] and len(sessions_of(phone)) == 1
    assert_error(end(phone, office_id), 404, "session_not_found")  # already ended


def test_property_09_another_users_session_is_404_and_stays_logged_in(app, phone, other_phone):
    bobs = app.test_client()
    log_in(bobs, other_phone)
    bob_session = bobs.get("/api/me").get_json()["session"]["id"]
    assert_error(end(phone, bob_session), 404, "session_not_found")
    assert bobs.get("/api/me").status_code == 200


@pytest.mark.parametrize("session_id", ["999999", "0", "99999999999999999999999", "abc", "-1"])
def test_property_09_unknown_session_ids_are_404_json(phone, session_id):
    assert_error(end(phone, session_id), 404)


def test_property_09_sessions_need_the_mini_program_token(app):
    assert_error(app.test_client().get("/api/mp/sessions"), 401, "invalid_token")
    assert_error(app.test_client().delete("/api/mp/sessions/1"), 401, "invalid_token")


def test_property_09_second_login_in_the_same_browser_ends_the_first(browser, phone):
    log_in(browser, phone)
    first = browser.get("/api/me").get_json()["session"]["id"]
    log_in(browser, phone)
    listed = sessions_of(phone)
    assert len(listed) == 1 and listed[0]["id"] != first
