"""The login ticket's state machine: every change of a ticket happens here.

Each transition is one conditional UPDATE ... WHERE id = :id AND <allowed from>
whose row count decides who won, so two phones (or two workers) racing on the
same ticket can never both succeed. When the UPDATE matches nothing, the
ticket is read again only to say why, with the matching error.

Views never assign `ticket.status` and never commit half a transition: they
call one function here and commit. Each change is recorded on the session
(`moved_in` reads it) and acted on only after the commit: the change is counted
here, and the wake-up hub (app/wakeups.py) wakes the polls waiting on it; a
rolled-back change does neither.
"""
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import clock, errors, metrics
from .extensions import db
from .models import Ticket, User, database_now
from .security import new_ticket_id

PENDING = "pending"
SCANNED = "scanned"
CONFIRMED = "confirmed"
CONSUMED = "consumed"  # the bound browser has received its session
CANCELLED = "cancelled"
EXPIRED = "expired"
DENIED = "denied"  # the person who scanned may not log in (app/access.py)

STATUSES = (PENDING, SCANNED, CONFIRMED, CONSUMED, CANCELLED, EXPIRED, DENIED)
LIVE = (PENDING, SCANNED, CONFIRMED)  # may still change; expire when expires_at passes

_CHANGES_KEY = "qrlogin_ticket_changes"  # session.info: [(ticket id, status reached)] until commit


OPEN = (PENDING, SCANNED)  # shown on a PC and not yet decided: what the caps count


def create(browser_hash: str, pc_ip: str, pc_user_agent: str, *, pc_net: str | None = None,
           max_per_browser: int = 0, max_per_net: int = 0, oidc_request_id: str | None = None,
           ticket_id: str | None = None, qr_url: str | None = None) -> Ticket:
    """A new pending ticket; refused when its browser already holds `max_per_browser` open
    (pending or scanned, unexpired) tickets, or its network `max_per_net` (0: no cap).

    The browser is counted first: a whole office shares one address, and only a
    much higher ceiling applies to the address. The insert comes first and the
    counts after it, in one transaction: SQLite's write lock (taken by the insert)
    and, on PostgreSQL, per-network and per-browser locks (always taken in that
    order) make parallel creations queue, so the counts are exact. A refusal
    raises, and the error handler rolls the insert back.

    `ticket_id` and `qr_url` come from the caller when WeChat made the QR for an id
    chosen beforehand (the Official Account's parametric QR).
    """
    now = clock.utcnow()
    pc_ip = pc_ip[:64]
    pc_net = (pc_net or pc_ip)[:64]
    if (max_per_browser or max_per_net) and db.session.get_bind().dialect.name == "postgresql":
        # Under READ COMMITTED parallel inserts would not see each other's rows.
        for key in (pc_net, browser_hash):
            db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))
    ticket = Ticket(
        id=ticket_id or new_ticket_id(),
        status=PENDING,
        browser_hash=browser_hash,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(seconds=current_app.config["TICKET_TTL_SECONDS"]),
        pc_ip=pc_ip,
        pc_net=pc_net,
        pc_user_agent=pc_user_agent[:512],
        qr_url=qr_url,
        oidc_request_id=oidc_request_id,
    )
    db.session.add(ticket)
    db.session.flush()
    if max_per_browser > 0 and _open_count(Ticket.browser_hash == browser_hash, now) > max_per_browser:
        raise errors.TooManyOpenTickets()  # this ticket included
    if max_per_net > 0 and _open_count(Ticket.pc_net == pc_net, now) > max_per_net:
        raise errors.TooManyPendingTickets()
    _record(ticket.id, PENDING)
    return ticket


def _open_count(whose, now) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Ticket)
        .where(whose, Ticket.status.in_(OPEN), Ticket.expires_at > now)
    )


def get(ticket_id: str) -> Ticket:
    """The ticket as it is now; a live ticket past its expiry is expired first."""
    ticket = db.session.get(Ticket, ticket_id, populate_existing=True) if well_formed(ticket_id) else None
    if ticket is None:
        raise errors.TicketNotFound()
    if ticket.status in LIVE and ticket.expires_at <= clock.utcnow():
        _expire(ticket_id)
        db.session.refresh(ticket)
    return ticket


def scan(ticket_id: str, user: User) -> Ticket:
    """A phone has read the code. Scanning again by the same person is harmless."""
    now = clock.utcnow()
    allowed = sa.or_(
        Ticket.status == PENDING,
        sa.and_(Ticket.status == SCANNED, Ticket.scanned_by_id == user.id),
    )
    if not _transition(ticket_id, allowed, SCANNED, scanned_by_id=user.id, scanned_at=now):
        _refuse(ticket_id, user, "scan")
    return get(ticket_id)


def confirm(ticket_id: str, user: User, *, login_as: int | None = None) -> Ticket:
    """The person who scanned approves. The PC then has a short window to pick it up.

    `login_as`: the user the login will be, when it turned out to be a user the person is
    already known as (the Official Account learns the unionid only after the scan).
    """
    now = clock.utcnow()
    pickup = timedelta(seconds=current_app.config["CONFIRM_PICKUP_SECONDS"])
    allowed = sa.and_(Ticket.status == SCANNED, Ticket.scanned_by_id == user.id)
    if not _transition(ticket_id, allowed, CONFIRMED, confirmed_at=now, expires_at=now + pickup,
                       scanned_by_id=login_as or user.id):
        _refuse(ticket_id, user, "confirm")
    return get(ticket_id)


def cancel(ticket_id: str, user: User) -> Ticket:
    """The person who scanned declines. Final: the code can never be used again."""
    allowed = sa.and_(Ticket.status == SCANNED, Ticket.scanned_by_id == user.id)
    if not _transition(ticket_id, allowed, CANCELLED, finished_at=clock.utcnow()):
        _refuse(ticket_id, user, "cancel")
    return get(ticket_id)


def drop(ticket_id: str, browser_hash: str) -> Ticket:
    """The bound browser gives up its code ("not you? get a new code"). Final, like a cancel.

    Allowed until the login is picked up, so a confirm racing the click cannot log
    the browser in as the person it just refused.
    """
    allowed = sa.and_(Ticket.status.in_(LIVE), Ticket.browser_hash == browser_hash)
    if not _transition(ticket_id, allowed, CANCELLED, finished_at=clock.utcnow()):
        ticket = get(ticket_id)
        if ticket.browser_hash != browser_hash:
            raise errors.NotBoundBrowser()
        if ticket.status == CANCELLED:
            return ticket  # dropped already: the same answer again
        _refuse(ticket_id, None, "drop")
    return get(ticket_id)


def deny(ticket_id: str, user: User) -> bool:
    """The person scanning (or who scanned) may not log in: the code ends, final.

    Only this person's own attempt ends: a code someone else scanned stays theirs.
    False when the ticket was not theirs to end (unknown, taken, finished)."""
    allowed = sa.or_(
        Ticket.status == PENDING,
        sa.and_(Ticket.status.in_((SCANNED, CONFIRMED)), Ticket.scanned_by_id == user.id),
    )
    now = clock.utcnow()
    return _transition(ticket_id, allowed, DENIED, scanned_by_id=user.id, scanned_at=sa.func.coalesce(
        Ticket.scanned_at, now), finished_at=now)


def consume(ticket_id: str, browser_hash: str) -> bool:
    """The bound browser takes the confirmed login. True for exactly one caller, ever."""
    allowed = sa.and_(Ticket.status == CONFIRMED, Ticket.browser_hash == browser_hash)
    return _transition(ticket_id, allowed, CONSUMED, finished_at=clock.utcnow())


def _expire(ticket_id: str) -> bool:
    now = clock.utcnow()
    stmt = (
        sa.update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status.in_(LIVE), Ticket.expires_at <= now)
        .values(status=EXPIRED, updated_at=database_now(), finished_at=now)
    )
    return _execute(ticket_id, stmt, EXPIRED)


def _transition(ticket_id: str, allowed, to: str, **values) -> bool:
    now = clock.utcnow()
    stmt = (
        sa.update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.expires_at > now, allowed)
        .values(status=to, updated_at=database_now(), **values)
    )
    return _execute(ticket_id, stmt, to)


def _execute(ticket_id: str, stmt, to: str) -> bool:
    if not well_formed(ticket_id):
        return False  # names no ticket; the caller's refusal says 404
    result = db.session.execute(stmt, execution_options={"synchronize_session": False})
    if result.rowcount != 1:
        return False
    _record(ticket_id, to)
    return True


def _record(ticket_id: str, status: str) -> None:
    db.session.info.setdefault(_CHANGES_KEY, []).append((ticket_id, status))


def _refuse(ticket_id: str, user: User, action: str):
    """Explain why a transition matched no row, as the most specific error."""
    ticket = get(ticket_id)
    status = ticket.status
    if status == EXPIRED:
        raise errors.TicketExpired()
    if status == CANCELLED:
        raise errors.TicketCancelled()
    if status == CONSUMED:
        raise errors.TicketUsed()
    if status == DENIED:
        raise errors.TicketDenied()
    someone_else = user is not None and ticket.scanned_by_id is not None and ticket.scanned_by_id != user.id
    if action == "scan" and someone_else:
        raise errors.TicketTaken()
    if someone_else:
        raise errors.NotTicketOwner()
    if status == PENDING:
        raise errors.InvalidTransition("Scan the code before you confirm or cancel.")
    if status == CONFIRMED:
        raise errors.InvalidTransition("This login is already confirmed.")
    raise errors.InvalidTransition()


def well_formed(ticket_id: str) -> bool:
    """Could this name a ticket (the shape of an id, nothing more)."""
    return 0 < len(ticket_id) <= 32 and all(c.isascii() and (c.isalnum() or c in "-_") for c in ticket_id)


def changed_since(cursor) -> tuple[object, list[tuple[str, object]]]:
    """For the cross-process watcher, in one round trip: the database's clock now, and
    (id, updated_at) of tickets changed at or after `cursor` (a reading of that clock; None: none)."""
    now = sa.select(database_now().label("now")).subquery()
    changed = sa.false() if cursor is None else Ticket.updated_at >= cursor
    rows = db.session.execute(
        sa.select(now.c.now, Ticket.id, Ticket.updated_at).select_from(now.outerjoin(Ticket, changed))
    ).all()
    return rows[0].now, [(row.id, row.updated_at) for row in rows if row.id is not None]


def moved_in(session) -> set[str]:
    """Ids of existing tickets this session's transaction has changed (new ones wait on nothing)."""
    return {ticket_id for ticket_id, status in session.info.get(_CHANGES_KEY, ()) if status != PENDING}


@event.listens_for(Session, "after_commit")
def _count_after_commit(session):
    changes = session.info.get(_CHANGES_KEY)
    if changes:
        metrics.tickets_changed(status for _, status in changes)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session, transaction):
    # Runs after every after_commit hook (the hub's too) and after a rollback.
    if transaction.parent is None:
        session.info.pop(_CHANGES_KEY, None)
