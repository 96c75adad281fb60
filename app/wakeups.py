"""The wake-up hub: where long-polls wait, and what wakes them.

A poll waits on an in-process event keyed by ticket id and holds no database
connection. What wakes it:

1. A change committed in this process: the hub's own after-commit hook (below)
   reads the tickets the transaction moved and sets their events.
2. A change committed by another process or machine, through a broadcast
   channel: PostgreSQL LISTEN/NOTIFY (one listening connection per process;
   the hub's before-commit hook sends the NOTIFY inside the changing
   transaction, so it fires exactly at commit), or on SQLite, Unix datagram
   sockets shared by the processes that use the same database file on this box.
3. A safety net, one indexed query per process (the catch-up query handed to
   `init_app`, "tickets updated since ..."): every WAKE_CHECK_SECONDS while the
   channel is down or absent, and every WAKE_SAFETY_CHECK_SECONDS while it is
   up. Its cost does not grow with the number of waiting polls, and it runs only
   while some poll waits. Its cursor and the tickets' change stamps both come
   from the database's clock, so boxes whose clocks disagree miss nothing.

A wake-up is never dropped silently: the SQLite channel keeps what a full
socket queue refused and sends it again, batched, and counts in /metrics
(qrlogin_wakeups_lost_total) anything it had to give up on.

The hub knows nothing of tickets: the application factory hands it the
catch-up query and the reader of what a transaction changed.
"""
import hashlib
import logging
import os
import random
import socket
import stat
import tempfile
import threading
import time
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session

from . import metrics
from .extensions import db

log = logging.getLogger(__name__)

# A transaction stamps updated_at before it commits, so a check can run
# between the two; looking back this far catches such late commits.
COMMIT_OVERLAP = timedelta(seconds=2)
# What ended a wait (WakeupHub.wait).
WOKEN, TIMED_OUT, CLOSING = "woken", "timed out", "closing"
PG_CHANNEL = "qrlogin_ticket"
LISTENER_NAME = "qrlogin-listener"  # how the listening connections show in pg_stat_activity


_EXTENSION = "qrlogin_wakeups"


def init_app(app, *, catch_up, changes) -> "WakeupHub":
    """Give `app` its hub.

    `catch_up(cursor)` returns (the database's clock now, [(ticket id,
    updated_at) of tickets changed since `cursor`]), `cursor` being an earlier
    reading of that clock, or None for none yet; `changes(session)` returns the
    ids of existing tickets the session's transaction has changed so far.
    """
    app.extensions[_EXTENSION] = WakeupHub(app, catch_up, changes)
    return app.extensions[_EXTENSION]


def hub(app=None) -> "WakeupHub":
    """The app's hub (the current app's when none is named)."""
    return (app or current_app).extensions[_EXTENSION]


def _hub_if_any():
    return current_app.extensions.get(_EXTENSION) if has_app_context() else None


@listens_for(Session, "before_commit")
def _publish_in_transaction(session):
    the_hub = _hub_if_any()
    if the_hub is not None and the_hub.channel is not None:
        for ticket_id in the_hub.changes(session):
            the_hub.channel.publish_in_transaction(session, ticket_id)


@listens_for(Session, "after_commit")
def _wake_after_commit(session):
    the_hub = _hub_if_any()
    if the_hub is not None:
        moved = the_hub.changes(session)
        if moved:
            the_hub.committed(moved)


class WakeupHub:
    def __init__(self, app, catch_up, changes):
        self.app = app
        self.catch_up = catch_up
        self.changes = changes
        self.check_seconds = app.config["WAKE_CHECK_SECONDS"]
        self.safety_check_seconds = app.config["WAKE_SAFETY_CHECK_SECONDS"]
        self._lock = threading.Lock()
        # ticket id -> {event of one waiting poll: the updated_at that poll saw}
        self._events: dict[str, dict[threading.Event, object]] = {}
        self._started_pid = None
        self._closing = False
        self.channel = _make_channel(app, self)

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(len(events) for events in self._events.values())

    def start(self) -> None:
        """Start this process's channel and safety net (idempotent; restarts after a fork)."""
        with self._lock:
            if self._started_pid == os.getpid() or self._closing:
                return
            self._started_pid = os.getpid()
        if self.channel is not None:
            self.channel.start()
        threading.Thread(target=self._safety_net, name="qrlogin-safety-net", daemon=True).start()

    def wait(self, ticket_id: str, timeout: float, seen_version=None) -> str:
        """Block up to `timeout` seconds. Returns what ended the wait: WOKEN (the
        ticket changed), TIMED_OUT (nothing happened) or CLOSING (the server stops).

        `seen_version` is the ticket's updated_at as the caller last read it; the
        periodic check wakes the caller only for a different one.
        """
        if self._closing:
            return CLOSING
        if timeout <= 0:
            return TIMED_OUT
        self.start()
        event = threading.Event()
        with self._lock:
            self._events.setdefault(ticket_id, {})[event] = seen_version
        try:
            if not event.wait(timeout):
                return TIMED_OUT
            return CLOSING if self._closing else WOKEN
        finally:
            with self._lock:
                events = self._events.get(ticket_id)
                if events is not None:
                    events.pop(event, None)
                    if not events:
                        del self._events[ticket_id]

    def notify(self, ticket_ids) -> None:
        """Wake this process's polls waiting on these tickets."""
        with self._lock:
            events = [e for tid in ticket_ids for e in self._events.get(tid, ())]
        for event in events:
            event.set()

    def notify_newer(self, versions) -> None:
        """Wake polls whose ticket's updated_at differs from the one they saw.

        Different, not later: stamps written by another box's clock may be behind ours.
        """
        with self._lock:
            events = [
                e
                for tid, updated in versions
                for e, seen in self._events.get(tid, {}).items()
                if seen is None or updated != seen
            ]
        for event in events:
            event.set()

    def committed(self, ticket_ids) -> None:
        """Called after a commit changed these tickets: wake them here and everywhere."""
        self.notify(ticket_ids)
        if self.channel is not None:
            self.channel.publish_after_commit(ticket_ids)

    def close(self, spread: float = 0.0) -> None:
        """Answer every waiting poll (the server is stopping); later waits return at once.

        With `spread`, the answers go out in random order over that many seconds,
        so thousands of pages do not all come back to the other workers at once.
        """
        self._closing = True
        with self._lock:
            events = [e for group in self._events.values() for e in group]
        random.shuffle(events)
        started = time.monotonic()
        for i, event in enumerate(events):
            due = started + spread * i / len(events)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            event.set()
        if self.channel is not None:
            self.channel.close()

    def _safety_net(self) -> None:
        # The cursor is a reading of the database's clock, never of this box's:
        # the tickets' change stamps come from that same clock.
        cursor = None  # None: the first check only reads the clock
        last_check = time.monotonic()
        while not self._closing:
            time.sleep(self.check_seconds)
            with self._lock:
                idle = not self._events
            if idle:  # nothing waits, so there is nothing to catch up on later
                cursor, last_check = None, time.monotonic()
                continue
            since_last = time.monotonic() - last_check
            channel_up = self.channel is not None and self.channel.healthy_for(since_last)
            if channel_up and since_last < self.safety_check_seconds and cursor is not None:
                continue
            last_check = time.monotonic()
            try:
                with self.app.app_context():
                    try:
                        database_now, rows = self.catch_up(cursor)
                    finally:
                        db.session.remove()
            except Exception:  # a database hiccup must not stop the safety net
                log.exception("wake-up check failed; retrying")
                continue
            cursor = database_now - COMMIT_OVERLAP
            if rows:
                self.notify_newer(rows)


class _Channel:
    """Carries 'these tickets changed' to every process using the same database."""

    def __init__(self, hub: WakeupHub):
        self.hub = hub
        self._up_since: float | None = None

    def healthy_for(self, seconds: float) -> bool:
        """Up, without a break, for at least the last `seconds`."""
        return self._up_since is not None and time.monotonic() - self._up_since >= seconds

    def _set_up(self, up: bool) -> None:
        self._up_since = time.monotonic() if up else None

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"qrlogin-{type(self).__name__}", daemon=True).start()

    def publish_in_transaction(self, session, ticket_id: str) -> None:
        """Hook run inside the changing transaction."""

    def publish_after_commit(self, ticket_ids) -> None:
        """Hook run after the changing transaction committed."""

    def close(self) -> None:
        self._set_up(False)

    def _run(self) -> None:
        raise NotImplementedError


class PostgresChannel(_Channel):
    """LISTEN on one connection per process; NOTIFY from the changing transaction."""

    def __init__(self, hub: WakeupHub, url):
        super().__init__(hub)
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.backend_pid = None  # the listening connection's server process, for operators

    def publish_in_transaction(self, session, ticket_id: str) -> None:
        import sqlalchemy as sa

        # Delivered by PostgreSQL when (and only if) the transaction commits.
        session.execute(sa.select(sa.func.pg_notify(PG_CHANNEL, ticket_id)))

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self.hub.closing:
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                     application_name=LISTENER_NAME) as conn:
                    conn.execute(f"LISTEN {PG_CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    self._set_up(True)
                    backoff = 0.5
                    while not self.hub.closing:
                        heard = False
                        for notification in conn.notifies(timeout=5.0):
                            self.hub.notify([notification.payload])  # at once, not in batches
                            heard = True
                        if not heard:
                            conn.execute("SELECT 1")  # notice a dead connection while idle
            except Exception as exc:
                if self.hub.closing:
                    return
                log.warning("ticket listener lost its connection (%s); reconnecting in %.1fs",
                            type(exc).__name__, backoff)
            self._set_up(False)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)


class LocalSocketChannel(_Channel):
    """For SQLite: every process using the database file binds a Unix datagram socket
    in one shared folder, and a commit sends the changed ticket ids to all of them.

    A receiving socket queues only a few datagrams (Linux: net.unix.max_dgram_qlen,
    10 by default), and a busy process may not read for a while. Ids a full queue
    refuses stay in that peer's outbox: a sender thread sends them again, many per
    datagram, until they are taken. Only ids still undelivered after
    GIVE_UP_SECONDS are dropped, counted in /metrics and left to the safety net.
    """

    GIVE_UP_SECONDS = 10.0
    MAX_DATAGRAM = 32 * 1024  # bytes of ids per datagram, well under the socket buffer

    def __init__(self, hub: WakeupHub, database_path: str):
        super().__init__(hub)
        key = hashlib.sha256(os.path.abspath(database_path).encode()).hexdigest()[:16]
        # Socket paths are limited to ~100 bytes, so the folder cannot sit beside a deep
        # database path; it lives in a folder only this user may enter.
        self.folder = os.path.join(private_runtime_dir(), f"wake-{key}")
        self.path = None
        self.sock = None
        self._sender = None
        self._sender_pid = None
        # peer socket path -> {ticket id: when it was first refused (monotonic)}
        self._outbox: dict[str, dict[str, float]] = {}
        self._outbox_lock = threading.Lock()
        self._outbox_filled = threading.Event()

    def start(self) -> None:
        try:
            _private_folder(os.path.dirname(self.folder))
            _private_folder(self.folder)
            self.path = os.path.join(self.folder, f"{os.getpid()}-{os.urandom(4).hex()}.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.path)
        except OSError as exc:
            log.warning("no wake-up socket (%s); relying on the periodic check", exc)
            return
        self._set_up(True)
        super().start()

    def _get_sender(self):
        # Any process may publish, including one where no poll ever waited;
        # its retrying thread starts with its first sender.
        if self._sender_pid != os.getpid():
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
            self._sender_pid = os.getpid()
            self._outbox = {}
            threading.Thread(target=self._resend, name="qrlogin-wake-resend", daemon=True).start()
        return self._sender

    def publish_after_commit(self, ticket_ids) -> None:
        try:
            peers = [entry.path for entry in os.scandir(self.folder) if entry.name.endswith(".sock")]
        except OSError:
            return
        sender = self._get_sender()
        refused = False
        for peer in peers:
            if peer == self.path:
                continue
            with self._outbox_lock:
                waiting = self._outbox.get(peer)
                if waiting:  # keep the order: queue behind what that peer has not taken yet
                    now = time.monotonic()
                    for ticket_id in ticket_ids:
                        waiting.setdefault(ticket_id, now)
                    refused = True
                    continue
            if not self._send(sender, peer, list(ticket_ids)):
                with self._outbox_lock:
                    now = time.monotonic()
                    box = self._outbox.setdefault(peer, {})
                    for ticket_id in ticket_ids:
                        box.setdefault(ticket_id, now)
                refused = True
        if refused:
            self._outbox_filled.set()

    def _send(self, sender, peer: str, ticket_ids: list[str]) -> bool:
        """Send the ids in as few datagrams as fit; False when the peer's queue is full."""
        batch, size = [], 0
        for ticket_id in [*ticket_ids, None]:
            if ticket_id is not None and size + len(ticket_id) + 1 <= self.MAX_DATAGRAM:
                batch.append(ticket_id)
                size += len(ticket_id) + 1
                continue
            if batch:
                try:
                    sender.sendto("\n".join(batch).encode(), peer)
                except (ConnectionRefusedError, FileNotFoundError):
                    _unlink(peer)  # a process that is gone: nobody waits there
                    return True
                except BlockingIOError:
                    return False
                except OSError as exc:
                    log.warning("wake-up not sent to %s (%s)", peer, exc)
                    return False
            batch, size = ([ticket_id], len(ticket_id) + 1) if ticket_id is not None else ([], 0)
        return True

    def _resend(self) -> None:
        """Send refused ids again until they are taken: a short pause, then again."""
        pause = 0.001
        while not self.hub.closing:
            with self._outbox_lock:
                pending = bool(self._outbox)
            if not pending:
                self._outbox_filled.wait(1.0)
                self._outbox_filled.clear()
                pause = 0.001
                continue
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            with self._outbox_lock:
                boxes, self._outbox = self._outbox, {}
            sender = self._get_sender()
            now = time.monotonic()
            for peer, box in boxes.items():
                if self._send(sender, peer, list(box)):
                    metrics.wakeups_resent(len(box))
                    continue
                kept = {tid: since for tid, since in box.items() if now - since < self.GIVE_UP_SECONDS}
                if len(kept) < len(box):
                    metrics.wakeups_lost(len(box) - len(kept))
                    log.warning("gave up waking %d polls in %s; its periodic check catches up",
                                len(box) - len(kept), peer)
                if kept:
                    with self._outbox_lock:
                        newer = self._outbox.get(peer, {})
                        self._outbox[peer] = {**kept, **newer}

    def _run(self) -> None:
        while not self.hub.closing:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            self.hub.notify(data.decode(errors="ignore").split("\n"))
        self._set_up(False)

    def close(self) -> None:
        super().close()
        if self.path:
            _unlink(self.path)
        for s in (self.sock, self._sender):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def private_runtime_dir() -> str:
    """$XDG_RUNTIME_DIR/qrlogin (the user's own, from systemd) or <tmp>/qrlogin-<uid>."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "qrlogin")
    return os.path.join(tempfile.gettempdir(), f"qrlogin-{os.geteuid()}")


def _private_folder(path: str) -> None:
    """Make `path` a 0700 folder of this user, or raise OSError: a folder someone else
    made (or a link they planted) in a shared place is never used."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private folder of this user")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _make_channel(app, hub: WakeupHub) -> _Channel | None:
    import sqlalchemy as sa

    kind = app.config["WAKE_CHANNEL"]
    if kind == "none":
        return None
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        return PostgresChannel(hub, url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return LocalSocketChannel(hub, url.database)
    return None
