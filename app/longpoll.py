"""The long-poll: hold a PC page's request until its ticket changes, then hand over the login.

    poll view --wait_for_change--> wake-up hub (app/wakeups.py) waits, holding no connection
              <--------------------- woken by a change, expiry, the deadline or shutdown
              --pick_up--> a confirmed ticket is consumed and its session started, once

Like authlib's split between an endpoint and its grant: the view reads the
request and shapes the answer; this module decides what the page gets.
"""
import threading
import time
from collections import Counter
from contextlib import contextmanager

from flask import current_app

from . import access, auth, clock, errors, metrics, tickets, wakeups
from .extensions import db
from .models import Ticket


def wait_for_change(ticket: Ticket, since: str, wait: float) -> Ticket:
    """The ticket once its status differs from `since`, or as it is after `wait` seconds."""
    hub = wakeups.hub()
    deadline = time.monotonic() + wait
    with _held_on(ticket.id), metrics.waiting_poll():
        while True:
            ticket_id, version = ticket.id, ticket.updated_at
            remaining = deadline - time.monotonic()
            if ticket.status in tickets.LIVE:
                # Wake exactly when the ticket expires, to report it at once.
                until_expiry = (ticket.expires_at - clock.utcnow()).total_seconds() + 0.01
                remaining = min(remaining, max(until_expiry, 0))
            # Thousands of polls wait at once: hold no database connection, no session
            # and no row objects meanwhile, only the id and the version seen.
            del ticket
            db.session.remove()
            hub.wait(ticket_id, remaining, seen_version=version)
            ticket = tickets.get(ticket_id)
            db.session.commit()
            if ticket.status != since or time.monotonic() >= deadline or hub.closing:
                break
    metrics.poll_woken(ticket, since)
    return ticket


class _Held:
    """How many polls this process holds per ticket (a few bytes each, only while held)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()


@contextmanager
def _held_on(ticket_id: str):
    """A place among the polls held on one ticket; beyond MAX_WAITING_POLLS_PER_TICKET, 429.

    The page holds one poll at a time: the cap only stops one client from parking
    thousands of requests (and their memory) on a single code.
    """
    cap = current_app.config.get("MAX_WAITING_POLLS_PER_TICKET", 0)
    held = current_app.extensions.setdefault("qrlogin_held_polls", _Held())
    with held.lock:
        if cap and held.counts[ticket_id] >= cap:
            raise errors.TooManyWaitingPolls()
        held.counts[ticket_id] += 1
    try:
        yield
    finally:
        with held.lock:
            held.counts[ticket_id] -= 1
            if held.counts[ticket_id] <= 0:
                del held.counts[ticket_id]


def pick_up(ticket: Ticket) -> tuple[Ticket, str | None]:
    """The bound browser's answer: a confirmed ticket becomes its session, exactly once.

    Returns the ticket as the page should see it and the new session's token
    (None unless this call took the login). The caller has checked the binding.
    """
    if ticket.status != tickets.CONFIRMED:
        return ticket, None
    try:
        access.check(ticket.scanned_by, stage="pickup")
    except errors.AccessDenied:
        # Blocked (or taken off the access list) between confirm and pick-up: no session.
        tickets.deny(ticket.id, ticket.scanned_by)
        db.session.commit()
        return _current(ticket.id), None
    if tickets.consume(ticket.id, ticket.browser_hash):
        token = auth.start_session(ticket.scanned_by_id, ticket.id)
        db.session.commit()
        return ticket, token
    # Another request from this browser took it a moment ago.
    db.session.rollback()
    return _current(ticket.id), None


def _current(ticket_id: str) -> Ticket:
    ticket = tickets.get(ticket_id)
    db.session.commit()
    return ticket

