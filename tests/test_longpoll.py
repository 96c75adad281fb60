"""The PC page's long-poll: answers at once when behind, waits for a change otherwise."""
import time

import pytest
import sqlalchemy as sa

from app import clock, wakeups
from app.extensions import db
from app.models import Ticket, User

from .support.apps import in_thread, wait_until


def waiting_poll(app, browser, ticket_id, **params):
    """Start a poll in a thread; return once it waits inside the server (no guessing with sleeps)."""
    hub = wakeups.hub(app)
    before = hub.waiting
    thread, result = in_thread(poll, browser, ticket_id, **params)
    assert wait_until(lambda: hub.waiting > before)
    return thread, result


def poll(browser, ticket_id, **params):
    started = time.monotonic()
    response = browser.get(f"/api/tickets/{ticket_id}", query_string=params)
    return response, time.monotonic() - started


@pytest.fixture
def hub_waits(app, monkeypatch):
    """Every time a poll waited in the hub (ticket id, timeout)."""
    hub, waits = wakeups.hub(app), []
    real = hub.wait

    def spy(ticket_id, timeout, **kwargs):
        waits.append((ticket_id, timeout))
        return real(ticket_id, timeout, **kwargs)

    monkeypatch.setattr(hub, "wait", spy)
    return waits


def test_poll_without_since_answers_at_once(browser, ticket, hub_waits):
    response, _ = poll(browser, ticket["ticket_id"], wait=10)
    assert response.get_json()["status"] == "pending"
    assert hub_waits == []


def test_poll_behind_the_current_status_answers_at_once(browser, ticket, phone, hub_waits):
    phone.scan(ticket["ticket_id"])
    response, _ = poll(browser, ticket["ticket_id"], wait=10, since="pending")
    assert response.get_json()["status"] == "scanned"
    assert hub_waits == []


def test_poll_returns_the_unchanged_status_after_wait(browser, ticket):
    response, took = poll(browser, ticket["ticket_id"], wait=1, since="pending")
    assert response.status_code == 200
    assert response.get_json()["status"] == "pending"
    assert took >= 0.75  # held up to a fifth less than asked (see test_hold_times_are_spread)


def test_poll_returns_promptly_on_scan(app, browser, ticket, phone):
    thread, result = waiting_poll(app, browser, ticket["ticket_id"], wait=20, since="pending")
    scanned_at = time.monotonic()
    phone.scan(ticket["ticket_id"])
    thread.join(timeout=10)
    response, _ = result["value"]
    assert response.get_json()["status"] == "scanned"
    assert response.get_json()["scanned_by"]["nickname"] == ""
    assert time.monotonic() - scanned_at < 5


def test_poll_returns_promptly_on_confirm_with_the_session(app, browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    thread, result = waiting_poll(app, browser, ticket["ticket_id"], wait=20, since="scanned")
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
    wakeups.hub(app).close()


def commit_elsewhere(app, ticket_id, **values):
    """Change a ticket through a separate connection, as another worker or machine would,
    without this process's notify or any broadcast."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as conn:
        conn.execute(
            sa.update(Ticket.__table__).where(Ticket.__table__.c.id == ticket_id)
            .values(updated_at=clock.utcnow(), **values)
        )
    engine.dispose()


@pytest.mark.parametrize(
    "settings",
    [
        # no broadcast channel at all: the periodic check alone
        {"WAKE_CHANNEL": "none", "WAKE_CHECK_SECONDS": 0.2},
        # the channel is up but this change never went through it: the safety net
        {"WAKE_SAFETY_CHECK_SECONDS": 0.5, "WAKE_CHECK_SECONDS": 0.2},
    ],
    ids=["periodic-check", "safety-net"],
)
def test_a_change_made_elsewhere_without_a_broadcast_still_wakes_the_poll(config, phone, settings):
    from app import create_app

    app = create_app({**config, **settings})
    browser = app.test_client()
    ticket = browser.post("/api/tickets").get_json()
    thread, result = waiting_poll(app, browser, ticket["ticket_id"], wait=20, since="pending")
    scanned_by = sa.select(User.id).where(User.public_id == phone.user["id"]).scalar_subquery()
    commit_elsewhere(app, ticket["ticket_id"], status="scanned", scanned_by_id=scanned_by)
    thread.join(timeout=30)
    response, took = result["value"]
    assert response.get_json()["status"] == "scanned"
    assert took < 10  # well before the 20 s wait ran out
    wakeups.hub(app).close()


def test_change_in_another_process_wakes_the_poll_through_the_broadcast(config):
    """Two app instances with their own waiters, as two gunicorn workers or two machines."""
    from app import create_app

    from .support.phone import Phone

    # The periodic check is pushed far out, so only the broadcast can wake the poll in time.
    slow_check = {"WAKE_SAFETY_CHECK_SECONDS": 60, "WAKE_CHECK_SECONDS": 30}
    pc_worker = create_app({**config, **slow_check})
    phone_worker = create_app({**config, **slow_check})
    browser = pc_worker.test_client()
    ticket = browser.post("/api/tickets").get_json()
    phone = Phone(phone_worker.test_client(), "ok-hank").login()
    thread, result = waiting_poll(pc_worker, browser, ticket["ticket_id"], wait=20, since="pending")
    phone.scan(ticket["ticket_id"])
    thread.join(timeout=30)
    response, took = result["value"]
    assert response.get_json()["status"] == "scanned"
    assert took < 10
    for app in (pc_worker, phone_worker):
        wakeups.hub(app).close()


def test_a_waiting_poll_holds_no_database_connection(app, browser, ticket):
    thread, _ = waiting_poll(app, browser, ticket["ticket_id"], wait=2, since="pending")
    with app.app_context():
        pool = db.engine.pool
        assert pool.checkedout() == 0
    thread.join(timeout=5)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
def test_lost_listener_reconnects_and_the_safety_net_covers_the_gap(config, phone):
    """PostgreSQL drops the LISTEN connection (restart, failover, idle kill): no poll is stranded."""
    from app import create_app
    from app.wakeups import LISTENER_NAME

    from .support.phone import Phone

    settings = {**config, "WAKE_CHECK_SECONDS": 0.2, "WAKE_SAFETY_CHECK_SECONDS": 60}
    pc_worker, phone_worker = create_app(settings), create_app(settings)
    hub = wakeups.hub(pc_worker)
    browser = pc_worker.test_client()
    ticket = browser.post("/api/tickets").get_json()
    first, _ = in_thread(poll, browser, ticket["ticket_id"], wait=2, since="pending")  # starts the listener
    assert wait_until(lambda: hub.channel.healthy_for(0))

    engine = sa.create_engine(config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as conn:
        killed = conn.scalar(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :name AND pid = :pid"), {"name": LISTENER_NAME, "pid": hub.channel.backend_pid})
    engine.dispose()
    assert killed == 1
    first.join(timeout=10)

    # The scan's NOTIFY may be lost while the listener is down; the poll must wake anyway.
    thread, result = waiting_poll(pc_worker, browser, ticket["ticket_id"], wait=20, since="pending")
    Phone(phone_worker.test_client(), "ok-ivan").login().scan(ticket["ticket_id"])
    thread.join(timeout=30)
    response, took = result["value"]
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "scanned"
    assert took < 10
    assert wait_until(lambda: hub.channel.healthy_for(0))  # and the listener is back
    for app in (pc_worker, phone_worker):
        wakeups.hub(app).close()

