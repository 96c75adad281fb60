"""One test per ticket transition and per refusal."""
import pytest


def error_code(response):
    return response.get_json()["error"]["code"]


def test_scan_moves_pending_to_scanned(browser, ticket, phone):
    assert phone.scan(ticket["ticket_id"]).get_json()["status"] == "scanned"
    assert browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()["status"] == "scanned"


def test_scanning_twice_by_the_same_user_is_fine(ticket, phone):
    assert phone.scan(ticket["ticket_id"]).status_code == 200
    assert phone.scan(ticket["ticket_id"]).status_code == 200


def test_scan_by_another_user_after_a_scan_is_refused(ticket, phone, other_phone):
    phone.scan(ticket["ticket_id"])
    response = other_phone.scan(ticket["ticket_id"])
    assert response.status_code == 409
    assert error_code(response) == "ticket_taken"


def test_confirm_before_scan_is_refused(browser, ticket, phone):
    response = phone.confirm(ticket["ticket_id"])
    assert response.status_code == 409
    assert error_code(response) == "invalid_transition"
    assert browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()["status"] == "pending"


def test_confirm_by_another_user_is_refused(browser, ticket, phone, other_phone):
    phone.scan(ticket["ticket_id"])
    response = other_phone.confirm(ticket["ticket_id"])
    assert response.status_code == 403
    assert error_code(response) == "not_ticket_owner"
    answer = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert answer.get_json()["status"] == "scanned"
    assert "Set-Cookie" not in answer.headers


def test_confirm_twice_is_refused(ticket, phone):
    phone.scan(ticket["ticket_id"])
    assert phone.confirm(ticket["ticket_id"]).status_code == 200
    again = phone.confirm(ticket["ticket_id"])
    assert again.status_code == 409


def test_cancel_moves_scanned_to_cancelled(browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    response = phone.cancel(ticket["ticket_id"])
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    answer = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert answer.get_json()["status"] == "cancelled"
    assert "Set-Cookie" not in answer.headers


def test_cancel_is_final(ticket, phone):
    phone.scan(ticket["ticket_id"])
    phone.cancel(ticket["ticket_id"])
    for action in ("scan", "confirm", "cancel"):
        response = phone.post(ticket["ticket_id"], action)
        assert response.status_code == 410
        assert error_code(response) == "ticket_cancelled"


def test_cancel_by_another_user_is_refused(ticket, phone, other_phone):
    phone.scan(ticket["ticket_id"])
    response = other_phone.cancel(ticket["ticket_id"])
    assert response.status_code == 403
    assert error_code(response) == "not_ticket_owner"


def test_cancel_after_confirm_is_refused(ticket, phone):
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    assert phone.cancel(ticket["ticket_id"]).status_code == 409


def test_scan_after_expiry_is_refused(browser, ticket, phone, clock):
    clock.advance(121)
    response = phone.scan(ticket["ticket_id"])
    assert response.status_code == 410
    assert error_code(response) == "ticket_expired"
    assert browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()["status"] == "expired"


def test_confirm_after_expiry_is_refused(ticket, phone, clock):
    phone.scan(ticket["ticket_id"])
    clock.advance(121)
    response = phone.confirm(ticket["ticket_id"])
    assert response.status_code == 410
    assert error_code(response) == "ticket_expired"


def test_ticket_is_still_live_just_before_expiry(ticket, phone, clock):
    clock.advance(118)
    assert phone.scan(ticket["ticket_id"]).status_code == 200


def test_confirmed_ticket_gives_the_pc_a_pickup_window(browser, ticket, phone, clock):
    phone.scan(ticket["ticket_id"])
    clock.advance(115)  # confirmed 5 s before the QR itself would expire
    phone.confirm(ticket["ticket_id"])
    clock.advance(10)
    answer = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert answer.get_json()["status"] == "confirmed"
    assert "qrl_session=" in answer.headers["Set-Cookie"]


def test_confirmed_ticket_not_picked_up_expires(browser, ticket, phone, clock):
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    clock.advance(61)
    answer = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert answer.get_json()["status"] == "expired"
    assert "Set-Cookie" not in answer.headers
    assert browser.get("/api/me").status_code == 401


def test_stranger_cannot_poll_a_ticket(stranger, ticket, phone):
    response = stranger.get(f"/api/tickets/{ticket['ticket_id']}")
    assert response.status_code == 403
    assert error_code(response) == "not_bound_browser"
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    response = stranger.get(f"/api/tickets/{ticket['ticket_id']}")
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert stranger.get("/api/me").status_code == 401


def test_second_poll_after_confirm_gets_no_second_session(browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    first = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert "qrl_session=" in first.headers["Set-Cookie"]
    second = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert second.status_code == 200
    assert second.get_json()["status"] == "consumed"
    assert "Set-Cookie" not in second.headers


def test_consumed_ticket_refuses_the_phone(browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    browser.get(f"/api/tickets/{ticket['ticket_id']}")
    for action in ("scan", "confirm", "cancel"):
        response = phone.post(ticket["ticket_id"], action)
        assert response.status_code == 410
        assert error_code(response) == "ticket_used"


@pytest.mark.parametrize("action", ["scan", "confirm", "cancel"])
def test_unknown_ticket_is_404(phone, action):
    response = phone.post("AAAAAAAAAAAAAAAAAAAAAA", action)
    assert response.status_code == 404
    assert error_code(response) == "ticket_not_found"


def test_each_ticket_is_bound_to_its_browser_even_across_tabs(app, browser):
    first = browser.post("/api/tickets").get_json()
    second = browser.post("/api/tickets").get_json()
    assert browser.get(f"/api/tickets/{first['ticket_id']}").status_code == 200
    assert browser.get(f"/api/tickets/{second['ticket_id']}").status_code == 200
    assert first["ticket_id"] != second["ticket_id"]
