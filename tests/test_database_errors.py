"""The database failing under a request: 503 with Retry-After in the one error shape, never a 500,
and nothing half-written. Real failures where they can be made in-process (a pool with no free
connection, a SQLite writer holding the lock); the whole service against a restarted PostgreSQL,
a full disk and the rest is in tests/test_outages.py."""
import shutil
import sqlite3

import pytest
import sqlalchemy as sa
from psycopg import OperationalError as PsycopgOperationalError

from app import create_app, tickets
from app.extensions import db

from .support.apps import serve
from .support.assertions import assert_error


def assert_unavailable(response):
    assert_error(response, 503, "database_unavailable")
    assert int(response.headers["Retry-After"]) >= 1


def ticket_count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM tickets"))
    finally:
        engine.dispose()


@pytest.fixture
def small_pool_app(config):
    """The service with one pooled connection that gives up waiting for it at once."""
    options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.1}
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        options["poolclass"] = sa.pool.QueuePool
    yield from serve(create_app({**config, "SQLALCHEMY_ENGINE_OPTIONS": options}))


def test_a_pool_timeout_is_a_503_with_retry_after(small_pool_app):
    browser = small_pool_app.test_client()
    ticket_id = browser.post("/api/tickets").get_json()["ticket_id"]
    with small_pool_app.app_context():
        held = db.engine.connect()  # every connection of the pool is busy elsewhere
        try:
            assert_unavailable(browser.post("/api/tickets"))
            assert_unavailable(browser.get(f"/api/tickets/{ticket_id}?wait=5&since=pending"))
        finally:
            held.close()
    # The connection is free again: the same requests work, and the failed creation left nothing.
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "pending"
    assert browser.post("/api/tickets").status_code == 201
    assert ticket_count(small_pool_app.config["SQLALCHEMY_DATABASE_URI"]) == 2


def test_a_sqlite_writer_holding_the_lock_past_the_busy_timeout_is_a_503(migrated_sqlite, tmp_path):
    path = tmp_path / "qrlogin.sqlite3"
    shutil.copy(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SQLITE_BUSY_TIMEOUT_SECONDS": 0.2})
    for _ in serve(app):
        browser, phone_client = app.test_client(), app.test_client()
        login = phone_client.post("/api/mp/login", json={"code": "dev:alice"})
        assert login.status_code == 200
        headers = {"Authorization": f"Bearer {login.get_json()['token']}"}
        ticket_id = browser.post("/api/tickets").get_json()["ticket_id"]
        writer = sqlite3.connect(path, timeout=0)
        writer.execute("BEGIN IMMEDIATE")  # another process's long write transaction
        try:
            assert_unavailable(browser.post("/api/tickets"))
            assert_unavailable(phone_client.post(f"/api/mp/tickets/{ticket_id}/scan", headers=headers))
            # Reading goes on beside the writer (WAL): the page still sees its code.
            assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "pending"
        finally:
            writer.rollback()
            writer.close()
        assert ticket_count(url) == 1  # the refused creation left nothing
        assert phone_client.post(f"/api/mp/tickets/{ticket_id}/scan", headers=headers).status_code == 200
        assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "scanned"


@pytest.mark.parametrize("failure", [
    sa.exc.OperationalError("INSERT", {}, PsycopgOperationalError("server closed the connection unexpectedly")),
    sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")),
    sa.exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
    sa.exc.InvalidatePoolError("the pool was invalidated"),
    sa.exc.DisconnectionError("connection lost"),
    sa.exc.InterfaceError("SELECT 1", {}, Exception("connection already closed"), connection_invalidated=True),
], ids=["server-gone", "disk-full", "pool-timeout", "pool-invalidated", "disconnected", "invalidated"])
def test_every_kind_of_database_failure_is_a_503_and_counted(app, browser, monkeypatch, failure, log_lines):
    def fail(*args, **kwargs):
        db.session.execute(sa.text("SELECT 1"))  # the request has begun its transaction
        raise failure

    monkeypatch.setattr(tickets, "create", fail)
    response = browser.post("/api/tickets")
    assert_unavailable(response)
    assert any("database unavailable" in line and type(failure).__name__ in line for line in log_lines())
    assert not any("Traceback" in line for line in log_lines())
    metrics = browser.get("/metrics").get_data(as_text=True)
    assert "qrlogin_database_unavailable_total" in metrics


def test_a_bug_in_a_query_is_still_a_500(app, browser, monkeypatch):
    """Only failures of the database itself mean 'try again': a bug stays visible as a 500."""
    def broken(*args, **kwargs):
        raise sa.exc.ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))

    monkeypatch.setattr(tickets, "create", broken)
    assert_error(browser.post("/api/tickets"), 500, "internal_error")


def test_a_connection_dying_after_the_answer_was_built_does_not_turn_it_into_a_500(app, browser, monkeypatch):
    """PostgreSQL restarting ends the connection; ending the request's session then fails to roll back."""
    ticket_id = browser.post("/api/tickets").get_json()["ticket_id"]
    real_close, failures = sa.orm.Session.close, []

    def close_on_a_dead_connection(session):
        if not failures:
            failures.append("ROLLBACK")
            raise sa.exc.OperationalError("ROLLBACK", {}, PsycopgOperationalError(
                "terminating connection due to administrator command"))
        return real_close(session)

    monkeypatch.setattr(sa.orm.Session, "close", close_on_a_dead_connection)
    response = browser.get(f"/api/tickets/{ticket_id}")
    assert failures == ["ROLLBACK"]
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    # The next request gets a fresh session and is served as usual.
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "pending"
