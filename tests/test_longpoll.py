"""The PC page's long-poll: answers at once when behind, waits for a change otherwise."""
import time

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.models import Ticket

from .conftest import in_thread


def poll(browser, ticket_id, **params):
    started = time.monotonic()
    response = browser.get(f"/api/tickets/{ticket_id}", query_string=params)
    return response, time.monotonic() - started


def test_poll_without_since_answers_at_once(browser, ticket):
    response, took = poll(browser, ticket["ticket_id"], wait=10)
    assert response.get_json()["status"] == "pending"
    assert took < 2


def test_poll_behind_the_current_status_answers_at_once(browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    response, took = poll(browser, ticket["ticket_id"], wait=10, since="pending")
    assert response.get_json()["status"] == "scanned"
    assert took < 2


def test_poll_returns_the_unchanged_status_after_wait(browser, ticket):
    response, took = poll(browser, ticket["ticket_id"], wait=1, since="pending")
    assert response.status_code == 200
    assert response.get_json()["status"] == "pending"
    assert took >= 0.9


def test_poll_returns_promptly_on_scan(browser, ticket, phone):
    thread, result = in_thread(poll, browser, ticket["ticket_id"], wait=20, since="pending")
    time.sleep(0.3)  # let the poll start waiting; this is not a TTL
    scanned_at = time.monotonic()
    phone.scan(ticket["ticket_id"])
    thread.join(timeout=10)
    response, _ = result["value"]
    assert response.get_json()["status"] == "scanned"
    assert response.get_json()["scanned_by"]["nickname"] == ""
    assert time.monotonic() - scanned_at < 5


def test_poll_returns_promptly_on_confirm_with_the_session(browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    thread, result = in_thread(poll, browser, ticket["ticket_id"], wait=20, since="scanned")
    time.sleep(0.3)
    phone.confirm(ticket["ticket_id"])
    thread.join(timeout=10)
    response, took = result["value"]
    assert response.get_json()["status"] == "confirmed"
    assert "qrl_session=" in response.headers["Set-Cookie"]
    assert took < 10


def test_poll_returns_when_the_ticket_expires(config):
    from app import create_app

    app = create_app({**config, "TICKET_TTL_SECONDS": 1})
    browser = app.test_client()
    ticket = browser.post("/api/tickets").get_json()
    response, took = poll(browser, ticket["ticket_id"], wait=10, since="pending")
    assert response.get_json()["status"] == "expired"
    assert took < 5
    app.extensions["qrlogin_waiters"].close()


def test_poll_wakes_on_a_change_made_by_another_process(app, browser, ticket, phone):
    """A change committed elsewhere (another worker) is found by the watcher, not by this process's notify."""
    thread, result = in_thread(poll, browser, ticket["ticket_id"], wait=20, since="pending")
    time.sleep(0.3)
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as conn:  # its own connection, as another worker would have
        conn.execute(
            sa.update(Ticket.__table__)
            .where(Ticket.__table__.c.id == ticket["ticket_id"])
            .values(status="scanned", scanned_by_id=phone.user["id"], updated_at=clock.utcnow())
        )
    engine.dispose()
    changed_at = time.monotonic()
    thread.join(timeout=10)
    response, _ = result["value"]
    assert response.get_json()["status"] == "scanned"
    assert time.monotonic() - changed_at < 3


def test_a_waiting_poll_holds_no_database_connection(app, browser, ticket):
    thread, _ = in_thread(poll, browser, ticket["ticket_id"], wait=2, since="pending")
    time.sleep(0.5)
    with app.app_context():
        pool = db.engine.pool
        assert pool.checkedout() == 0
    thread.join(timeout=5)
