"""Maintenance: migrations match the models and run both ways; purge removes only what is long dead."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.models import LoginSession, Ticket

from .support.assertions import log_in


def test_migrations_match_the_models(app):
    with app.app_context():
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"render_as_batch": True}), db.metadata)
    assert diff == []


def test_migrations_downgrade_and_upgrade_again(app):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="base")
        assert "tickets" not in sa.inspect(db.engine).get_table_names()
        upgrade()
        assert {"tickets", "users", "login_sessions"} <= set(sa.inspect(db.engine).get_table_names())


def test_purge_deletes_only_what_is_long_past_expiry(app, browser, phone, clock):
    old = browser.post("/api/tickets").get_json()["ticket_id"]
    log_in(browser, phone)
    clock.advance(2 * 24 * 3600)
    fresh = browser.post("/api/tickets").get_json()["ticket_id"]
    result = app.test_cli_runner().invoke(args=["tickets", "purge", "--older-than", "3600", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert "Removed 2 tickets and 0 sessions" in result.output
    with app.app_context():
        assert db.session.get(Ticket, old) is None
        assert db.session.get(Ticket, fresh) is not None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 1
