"""The wake-up path under a login wave: nothing dropped, no herd, no needless database work."""
import threading
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from app import clock, create_app, wakeups
from app.extensions import db

from .support.apps import in_thread, wait_until
from .support.phone import Phone

NO_LIMITS = {"TICKET_RATE_LIMIT": "", "MAX_PENDING_TICKETS_PER_IP": 0, "POLL_RATE_LIMIT": ""}


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def poll(client, ticket_id, **params):
    return client.get(f"/api/tickets/{ticket_id}", query_string=params)


def socket_queue_limit() -> int:
    try:
        with open("/proc/sys/net/unix/max_dgram_qlen") as f:
            return int(f.read())
    except OSError:
        return 10  # Linux's default


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the datagram channel is SQLite's
def test_a_burst_of_changes_larger_than_the_socket_queue_wakes_every_poll(config, monkeypatch):
    """Two workers on one SQLite file; the polls' worker is too busy to read its socket for a while."""
    # The periodic check is pushed far out, so only the channel can wake the polls in time.
    settings = {**config, **NO_LIMITS, "WAKE_SAFETY_CHECK_SECONDS": 600, "WAKE_CHECK_SECONDS": 300,
                "POLL_MAX_WAIT_SECONDS": 120}
    pc_worker, phone_worker = create_app(settings), create_app(settings)
    hub = wakeups.hub(pc_worker)
    busy = threading.Event()
    notify = hub.notify

    def notify_when_not_busy(ticket_ids):
        busy.wait()
        notify(ticket_ids)

    monkeypatch.setattr(hub, "notify", notify_when_not_busy)
    pages = [pc_worker.test_client() for _ in range(3 * socket_queue_limit())]
    ids = [page.post("/api/tickets").get_json()["ticket_id"] for page in pages]
    polls = []
    for page, ticket_id in zip(pages, ids):
        polls.append(in_thread(poll, page, ticket_id, wait=120, since="pending"))
    assert wait_until(lambda: hub.waiting == len(ids))
    resent_before, lost_before = counter("qrlogin_wakeups_resent_total"), counter("qrlogin_wakeups_lost_total")

    phone = Phone(phone_worker.test_client(), "ok-burst").login()
    for ticket_id in ids:  # one commit, so one datagram, each: far more than the queue holds
        phone.scan(ticket_id)
    busy.set()  # the worker gets to its socket again

    answers = []
    for thread, result in polls:
        thread.join(timeout=30)
        answers.append(result["value"].get_json()["status"] if "value" in result else "still waiting")
    assert answers == ["scanned"] * len(ids)
    assert counter("qrlogin_wakeups_resent_total") > resent_before  # the queue did overflow
    assert counter("qrlogin_wakeups_lost_total") == lost_before
    for app in (pc_worker, phone_worker):
        wakeups.hub(app).close()


def record_waits(monkeypatch, app, queries=None):
    """Make the hub's waits end at once as if their time ran out; returns the timeouts asked for.

    With `queries` (a list), every statement the app sends after a wait ended is appended to it.
    """
    hub = wakeups.hub(app)
    asked = []
    ended = threading.Event()

    def timed_out(ticket_id, timeout, seen_version=None):
        asked.append(timeout)
        ended.set()
        return wakeups.TIMED_OUT

    monkeypatch.setattr(hub, "wait", timed_out)
    if queries is not None:
        import sqlalchemy as sa

        with app.app_context():
            engine = db.engine

        def after_the_wait(conn, cursor, statement, *args):
            if ended.is_set():
                queries.append(statement)

        sa.event.listen(engine, "before_cursor_execute", after_the_wait)
    return asked


def test_a_poll_whose_hold_ends_without_a_change_makes_no_database_query(app, browser, ticket, monkeypatch):
    queries = []
    record_waits(monkeypatch, app, queries)
    response = poll(browser, ticket["ticket_id"], wait=25, since="pending")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["ticket_id"] == ticket["ticket_id"]
    assert 0 < body["expires_in"] <= ticket["expires_in"]
    assert queries == []


def test_a_poll_woken_by_expiry_still_reads_the_ticket(config, monkeypatch):
    """Expiry is the one end of a hold that changes the ticket: that poll must say so."""
    app = create_app({**config, "TICKET_TTL_SECONDS": 10})
    browser = app.test_client()
    ticket = browser.post("/api/tickets").get_json()
    asked = record_waits(monkeypatch, app)
    moved = []
    real = clock._source
    monkeypatch.setattr(clock, "_source", lambda: real() + timedelta(seconds=11 if moved else 0))

    def expire_then_time_out(ticket_id, timeout, seen_version=None):
        moved.append(True)  # the wait ran to the ticket's expiry
        asked.append(timeout)
        return wakeups.TIMED_OUT

    monkeypatch.setattr(wakeups.hub(app), "wait", expire_then_time_out)
    body = poll(browser, ticket["ticket_id"], wait=25, since="pending").get_json()
    assert body["status"] == "expired"
    assert asked[0] <= 10.1  # it waited for the expiry, not the whole hold
    wakeups.hub(app).close()


def test_hold_times_are_spread_so_pages_that_started_together_drift_apart(app, browser, ticket, monkeypatch):
    asked = record_waits(monkeypatch, app)
    for _ in range(30):
        assert poll(browser, ticket["ticket_id"], wait=25, since="pending").status_code == 200
    assert all(20 <= held <= 25 for held in asked)
    assert max(asked) - min(asked) > 1.5
    assert len({round(held, 2) for held in asked}) > 20


def test_a_change_from_a_box_whose_clock_is_30_s_behind_wakes_the_poll(config, monkeypatch):
    """The catch-up query finds changes by the database's clock, not by the boxes' own clocks.

    Box A (every thread but the test's) holds the poll with only the periodic check to
    learn of changes elsewhere; box B (the test's thread: the phone) runs 30 s behind.
    """
    real = clock._source
    box_b = threading.current_thread()
    monkeypatch.setattr(clock, "_source",
                        lambda: real() - timedelta(seconds=30) if threading.current_thread() is box_b else real())
    settings = {**config, "WAKE_CHANNEL": "none", "WAKE_CHECK_SECONDS": 0.2, "POLL_MAX_WAIT_SECONDS": 120}
    pc_box, phone_box = create_app(settings), create_app(settings)
    hub = wakeups.hub(pc_box)
    browser = pc_box.test_client()
    ticket_id = browser.post("/api/tickets").get_json()["ticket_id"]
    thread, result = in_thread(poll, browser, ticket_id, wait=120, since="pending")
    assert wait_until(lambda: hub.waiting == 1)
    Phone(phone_box.test_client(), "ok-skew").login().scan(ticket_id)
    thread.join(timeout=30)
    assert "value" in result, "the poll did not hear of the scan"
    assert result["value"].get_json()["status"] == "scanned"
    for app in (pc_box, phone_box):
        wakeups.hub(app).close()
