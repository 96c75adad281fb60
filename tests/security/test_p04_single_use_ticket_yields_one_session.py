"""Property 4: single use. A consumed ticket never yields a second session and a replayed poll
after login gets no cookie. Stops the study's "reusable QR" flaw and replayed pick-ups."""
import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession

from ..support.assertions import assert_error, cookie_value


def test_property_04_consumed_ticket_never_yields_a_second_session(app, browser, ticket, phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    phone.confirm(ticket_id)
    first = browser.get(f"/api/tickets/{ticket_id}")
    assert first.get_json()["status"] == "confirmed" and cookie_value(first, "qrl_session")
    for _ in range(3):  # replays from the same browser: other tabs, retries, a copied request
        replay = browser.get(f"/api/tickets/{ticket_id}")
        assert replay.get_json()["status"] == "consumed"
        assert cookie_value(replay, "qrl_session") is None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 1


def test_property_04_consumed_ticket_cannot_be_confirmed_again(browser, ticket, phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    phone.confirm(ticket_id)
    browser.get(f"/api/tickets/{ticket_id}")
    assert_error(phone.scan(ticket_id), 410, "ticket_used")
    assert_error(phone.confirm(ticket_id), 410, "ticket_used")
    assert cookie_value(browser.get(f"/api/tickets/{ticket_id}"), "qrl_session") is None
