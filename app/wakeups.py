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
   while some poll waits.

The hub knows nothing of tickets: the application factory hands it the
catch-up query and the reader of what a transaction changed.
"""
import hashlib
import logging
import os
import socket
import stat
import tempfile
import threading
import time
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session

from . import clock
from .extensions import db

log = logging.getLogger(__name__)

# A transaction stamps updated_at before it commits, so a check can run
# between the two; looking back this far catches such late commits.
COMMIT_OVERLAP = timedelta(seconds=2)
PG_CHANNEL = "qrlogin_ticket"
LISTENER_NAME = "qrlogin-listener"  # how the listening connections show in pg_stat_activity


_EXTENSION = "qrlogin_wakeups"


def init_app(app, *, catch_up, changes) -> "WakeupHub":
    """Give `app` its hub.

    `catch_up(cursor)` returns (ticket id, updated_at) of tickets changed since
    `cursor`; `changes(session)` returns the ids of existing tickets the
    session's transaction has changed so far.
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

    def wait(self, ticket_id: str, timeout: float, seen_version=None) -> bool:
        """Block up to `timeout` seconds; True when woken by a change.

        `seen_version` is the ticket's updated_at as the caller last read it; the
        periodic check wakes the caller only for a newer one.
        """
        if self._closing or timeout <= 0:
            return False
        self.start()
        event = threading.Event()
        with self._lock:
            self._events.setdefault(ticket_id, {})[event] = seen_version
        try:
            return event.wait(timeout)
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
        """Wake polls whose ticket has an updated_at newer than the one they saw."""
        with self._lock:
            events = [
                e
                for tid, updated in versions
                for e, seen in self._events.get(tid, {}).items()
                if seen is None or updated > seen
            ]
        for event in events:
            event.set()

    def committed(self, ticket_ids) -> None:
        """Called after a commit changed these tickets: wake them here and everywhere."""
        self.notify(ticket_ids)
        if self.channel is not None:
            self.channel.publish_after_commit(ticket_ids)

    def close(self) -> None:
        """Answer every waiting poll now (the server is stopping); later waits return at once."""
        self._closing = True
        with self._lock:
            events = [e for group in self._events.values() for e in group]
        for event in events:
            event.set()
        if self.channel is not None:
            self.channel.close()

    def _safety_net(self) -> None:
        cursor = clock.utcnow() - COMMIT_OVERLAP
        last_check = time.monotonic()
        while not self._closing:
            time.sleep(self.check_seconds)
            with self._lock:
                idle = not self._events
            if idle:  # nothing waits, so there is nothing to catch up on later
                cursor, last_check = clock.utcnow() - COMMIT_OVERLAP, time.monotonic()
                continue
            since_last = time.monotonic() - last_check
            channel_up = self.channel is not None and self.channel.healthy_for(since_last)
            if channel_up and since_last < self.safety_check_seconds:
                continue
            started, last_check = clock.utcnow(), time.monotonic()
            try:
                with self.app.app_context():
                    try:
                        rows = self.catch_up(cursor)
                    finally:
                        db.session.remove()
            except Exception:  # a database hiccup must not stop the safety net
                log.exception("wake-up check failed; retrying")
                continue
            cursor = started - COMMIT_OVERLAP
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
    in one shared folder, and a commit sends the changed ticket ids to all of them."""

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
        # Any process may publish, including one where no poll ever waited.
        if self._sender_pid != os.getpid():
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
            self._sender_pid = os.getpid()
        return self._sender

    def publish_after_commit(self, ticket_ids) -> None:
        payload = "\n".join(ticket_ids).encode()
        try:
            peers = [entry.path for entry in os.scandir(self.folder) if entry.name.endswith(".sock")]
        except OSError:
            return
        for peer in peers:
            if peer == self.path:
                continue
            try:
                self._get_sender().sendto(payload, peer)
            except (ConnectionRefusedError, FileNotFoundError):
                _unlink(peer)  # a process that is gone
            except OSError:
                pass  # a full queue: that process's periodic check catches up

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
