"""Property 3: no secret or token is stored in plain text. A stolen database copy (backup,
SQL injection elsewhere) gives no binding secret, session cookie or mini-program token (RFC 6819 5.1.4.1.3)."""
import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession, Ticket
from app.security import hash_secret

from ..support.assertions import cookie_value, database_text


def test_property_03_database_holds_only_hashes_of_secrets_and_tokens(app, config, browser, phone):
    created = browser.post("/api/tickets")
    ticket_id = created.get_json()["ticket_id"]
    bind = cookie_value(created, "qrl_bind").rsplit(".", 1)[0]  # the secret, then the server's signature
    phone.scan(ticket_id)
    phone.confirm(ticket_id)
    session = cookie_value(browser.get(f"/api/tickets/{ticket_id}"), "qrl_session")
    assert bind and session and phone.token
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).browser_hash == hash_secret(bind)
        assert db.session.scalar(sa.select(LoginSession.token_hash)) == hash_secret(session)
    dump = database_text(config)
    for secret in (bind, session, phone.token):
        assert secret not in dump
    # The mini-program token is signed, not stored: no part of it is in the database either.
    for part in phone.token.split("."):
        assert part not in dump
