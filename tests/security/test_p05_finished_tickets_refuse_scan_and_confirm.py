"""Property 5: expired, cancelled and consumed tickets refuse scan and confirm; a cancel is final.
Stops replaying an old QR (RFC 8628 5.2 short lifetimes) and undoing a person's "no"."""
import pytest

from ..support.assertions import assert_error


def _expired(browser, ticket_id, phone, clock):
    clock.advance(121)


def _cancelled(browser, ticket_id, phone, clock):
    phone.scan(ticket_id)
    assert phone.cancel(ticket_id).status_code == 200


def _consumed(browser, ticket_id, phone, clock):
    phone.scan(ticket_id)
    phone.confirm(ticket_id)
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "confirmed"


@pytest.mark.parametrize("finish, status, code", [
    (_expired, "expired", "ticket_expired"),
    (_cancelled, "cancelled", "ticket_cancelled"),
    (_consumed, "consumed", "ticket_used"),
])
@pytest.mark.parametrize("action", ["scan", "confirm", "cancel"])
def test_property_05_finished_ticket_refuses_every_step(browser, ticket, phone, other_phone, clock,
                                                       finish, status, code, action):
    ticket_id = ticket["ticket_id"]
    finish(browser, ticket_id, phone, clock)
    for someone in (phone, other_phone):
        assert_error(someone.post(ticket_id, action), 410, code)
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == status


def test_property_05_a_cancel_is_final(browser, ticket, phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    phone.cancel(ticket_id)
    assert_error(phone.scan(ticket_id), 410, "ticket_cancelled")
    assert_error(phone.confirm(ticket_id), 410, "ticket_cancelled")
    answer = browser.get(f"/api/tickets/{ticket_id}")
    assert answer.get_json()["status"] == "cancelled" and "Set-Cookie" not in answer.headers
