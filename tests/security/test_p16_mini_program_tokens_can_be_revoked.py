"""Property 16: a mini-program token can be revoked on the server. Phone logout
(POST /api/mp/logout) makes every token issued to the user so far answer 401 token_revoked, so a
stolen token stops working; "log out everywhere" (from the phone, or the PC's logout with
`everywhere`) also ends every PC session of the user. Other people's tokens and sessions stay."""
from ..support.assertions import assert_error, log_in
from ..support.phone import Phone


def logout(phone, **body):
    return phone.client.post("/api/mp/logout", headers=phone.headers(), json=body)


def test_property_16_phone_logout_revokes_the_token_and_a_stolen_copy(app, browser, phone, other_phone):
    stolen = phone.token
    thief = Phone(app.test_client(), "unused")
    thief.token = stolen
    ticket = browser.post("/api/tickets").get_json()["ticket_id"]
    answer = logout(phone)
    assert answer.status_code == 200 and answer.get_json() == {"logged_out": True, "pc_sessions_ended": 0}
    assert_error(thief.scan(ticket), 401, "token_revoked")
    assert_error(phone.client.get("/api/mp/me", headers=phone.headers()), 401, "token_revoked")
    assert browser.get(f"/api/tickets/{ticket}").get_json()["status"] == "pending"
    # Signing in again gives a token that works; the other person never noticed.
    assert phone.login().scan(ticket).status_code == 200
    assert other_phone.client.get("/api/mp/me", headers=other_phone.headers()).status_code == 200


def test_property_16_phone_logout_alone_keeps_pc_sessions(app, browser, phone):
    log_in(browser, phone)
    logout(phone)
    assert browser.get("/api/me").status_code == 200


def test_property_16_log_out_everywhere_from_the_phone(app, phone, other_phone):
    office, home, bobs = app.test_client(), app.test_client(), app.test_client()
    log_in(office, phone)
    log_in(home, phone)
    log_in(bobs, other_phone)
    answer = logout(phone, everywhere=True)
    assert answer.get_json() == {"logged_out": True, "pc_sessions_ended": 2}
    assert_error(office.get("/api/me"), 401, "not_authenticated")
    assert_error(home.get("/api/me"), 401, "not_authenticated")
    assert_error(phone.client.get("/api/mp/sessions", headers=phone.headers()), 401, "token_revoked")
    assert bobs.get("/api/me").status_code == 200


def test_property_16_log_out_everywhere_from_a_pc(app, phone):
    office, home = app.test_client(), app.test_client()
    log_in(office, phone)
    log_in(home, phone)
    assert office.post("/api/logout", json={"everywhere": True}).get_json() == {"logged_out": True}
    assert_error(home.get("/api/me"), 401, "not_authenticated")
    assert_error(phone.client.get("/api/mp/me", headers=phone.headers()), 401, "token_revoked")


def test_property_16_odd_logout_bodies_are_refused_without_logging_out(app, phone):
    assert_error(logout(phone, everywhere="yes"), 400, "invalid_request")
    assert phone.client.get("/api/mp/me", headers=phone.headers()).status_code == 200
