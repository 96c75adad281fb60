"""Property 6: confirm needs an explicit call from the same user who scanned, and the user is
known only from the mini-program token, never from ids in the body. Stops the study's
"weak app-token check" flaw (trusting an openid or phone number sent by the client)."""
from ..support.assertions import assert_error


def test_property_06_scanning_alone_logs_nobody_in(browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    answer = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert answer.get_json()["status"] == "scanned" and "Set-Cookie" not in answer.headers
    assert browser.get("/api/me").status_code == 401


def test_property_06_only_the_user_who_scanned_can_confirm(browser, ticket, phone, other_phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    # Ids in the body name the scanner; they change nothing.
    response = other_phone.client.post(f"/api/mp/tickets/{ticket_id}/confirm", headers=other_phone.headers(),
                                       json={"user_id": phone.user["id"], "openid": "o-alice"})
    assert_error(response, 403, "not_ticket_owner")
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "scanned"


def test_property_06_confirm_without_a_token_is_refused_whatever_the_body_says(app, ticket, phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    anonymous = app.test_client()
    response = anonymous.post(f"/api/mp/tickets/{ticket_id}/confirm",
                              json={"user_id": phone.user["id"], "openid": "o-alice", "token": "x"})
    assert_error(response, 401, "invalid_token")


def test_property_06_sign_in_ignores_an_openid_sent_in_the_body(app, phone):
    response = app.test_client().post("/api/mp/login", json={"code": "ok-mallory", "openid": "o-alice",
                                                              "user_id": phone.user["id"]})
    assert response.status_code == 200
    assert response.get_json()["user"]["id"] != phone.user["id"]
