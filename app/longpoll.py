"""The long-poll: hold a PC page's request until its ticket changes, then hand over the login.

    poll view --answer--> wait_for_change: the wake-up hub (app/wakeups.py) waits, holding no connection
              <---------- woken by a change, expiry, the hold's end or shutdown
              --pick_up--> a confirmed ticket is consumed and its session started, once

Like authlib's split between an endpoint and its grant: the view reads the
request and shapes the answer; this module decides what the page gets.

Two things keep a morning's login wave from turning into a herd: each poll is
held a little less than the page asked, by a random amount (POLL_HOLD_JITTER_SECONDS),
so pages that started together drift apart; and a hold that ends with nothing
changed is answered from what the poll already knew, without the database.
"""
import random
import threading
import time
from collections import Counter
from contextlib import contextmanager

from flask import current_app

from . import access, auth, clock, errors, metrics, tickets, wakeups
from .extensions import db
from .models import Ticket


def answer(ticket: Ticket, since: str | None, wait: float) -> tuple[dict, str | None]:
    """What the bound browser's poll gets: the ticket as the page should see it, and the new
    session's token when this poll took the login (None otherwise)."""
    if since != ticket.status or wait <= 0:
        ticket, token = pick_up(ticket)
        return ticket.to_dict(), token
    # Kept for a hold that ends with no change: the answer is then what the page already has.
    unchanged, expires_at = ticket.to_dict(), ticket.expires_at
    changed = wait_for_change(ticket, since, hold_time(wait))
    if changed is None:
        unchanged["expires_in"] = max(0, int((expires_at - clock.utcnow()).total_seconds()))
        return unchanged, None
    ticket, token = pick_up(changed)
    return ticket.to_dict(), token


def hold_time(wait: float) -> float:
    """How long to hold a poll the page asked to hold `wait` seconds: up to a few seconds less."""
    jitter = min(current_app.config["POLL_HOLD_JITTER_SECONDS"], wait * 0.2)
    return wait - random.uniform(0, jitter)


def wait_for_change(ticket: Ticket, since: str, wait: float) -> Ticket | None:
    """The ticket once its status differs from `since` or it expired, or as it is after `wait`
    seconds; None when the hold ended (or the server began stopping) with nothing changed."""
    hub = wakeups.hub()
    deadline = time.monotonic() + wait
    with _held_on(ticket.id), metrics.waiting_poll():
        while True:
            ticket_id, version = ticket.id, ticket.updated_at
            remaining = deadline - time.monotonic()
            until_expiry = None
            if ticket.status in tickets.LIVE:
                # Wake exactly when the ticket expires, to report it at once.
                until_expiry = max((ticket.expires_at - clock.utcnow()).total_seconds() + 0.01, 0)
            # Thousands of polls wait at once: hold no database connection, no session
            # and no row objects meanwhile, only the id and the version seen.
            del ticket
            db.session.remove()
            expiry_first = until_expiry is not None and until_expiry < remaining
            ended = hub.wait(ticket_id, until_expiry if expiry_first else remaining, seen_version=version)
            if ended == wakeups.CLOSING or (ended == wakeups.TIMED_OUT and not expiry_first):
                # Nothing woke it: the ticket did not change (a change or expiry would have).
                return None
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

