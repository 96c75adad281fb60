"""Flask extensions, created unbound so models and blueprints can import them."""
import sqlite3
import threading
import time

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Named constraints let Alembic (and SQLite batch mode) alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Rows stay readable after commit: views commit and then answer from what they
# hold, without a reload query per object. Fresh state is always read on purpose
# (tickets.get uses populate_existing).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class YieldingSqliteCursor(sqlite3.Cursor):
    """Waits for SQLite's write lock in turn, by sleeping in Python, not inside SQLite.

    SQLite's own busy handler sleeps in C, which under gevent freezes every request
    of the worker while one of them waits for another worker's write, and lets
    whoever retries at the right moment jump the queue. Here the requests of one
    process queue for writing to a database file on a lock (first come, first
    served), and the one at the head waits for other processes with time.sleep,
    which gevent turns into a pause of that request alone. Only the first write of
    a transaction can find the file locked (pysqlite begins the transaction just
    before it) and no read snapshot is held yet, so running that statement again is
    safe. After the driver's `timeout` (SQLITE_BUSY_TIMEOUT_SECONDS) the write fails
    with SQLite's own "database is locked", which the service answers with 503.
    """

    def execute(self, sql, *args):
        return self.connection.write_in_turn(super().execute, sql, args)

    def executemany(self, sql, *args):
        return self.connection.write_in_turn(super().executemany, sql, args)


class YieldingSqliteConnection(sqlite3.Connection):
    _locks: dict[str, threading.Lock] = {}  # database file -> its writers' turn in this process
    _locks_guard = threading.Lock()

    def __init__(self, database, timeout=5.0, *args, **kwargs):
        super().__init__(database, 0, *args, **kwargs)  # SQLite itself never waits (busy_timeout 0)
        self.busy_seconds = timeout
        with self._locks_guard:
            self._turn = self._locks.setdefault(str(database), threading.Lock())
        self._writing = False

    def cursor(self, factory=YieldingSqliteCursor):
        return super().cursor(factory)

    def write_in_turn(self, run, sql, args):
        if self._writing or self.in_transaction or not sql.lstrip()[:7].upper().startswith(_WRITES):
            return run(sql, *args)
        deadline = time.monotonic() + self.busy_seconds
        if not self._turn.acquire(timeout=max(self.busy_seconds, 0.001)):
            raise sqlite3.OperationalError("database is locked")
        self._writing = True
        try:
            return _when_unlocked(run, (sql, *args), deadline)
        finally:
            if not self.in_transaction:  # failed, or autocommit: nothing holds the lock
                self._done_writing()

    def _done_writing(self):
        if self._writing:
            self._writing = False
            self._turn.release()

    def commit(self):
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._done_writing()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._done_writing()

    def close(self):
        try:
            super().close()
        finally:
            self._done_writing()


def _when_unlocked(run, args, deadline: float):
    pause = 0.0005
    while True:
        try:
            return run(*args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.005)


@event.listens_for(Engine, "connect")
def _sqlite_for_concurrency(dbapi_connection, connection_record):
    """WAL lets readers run beside one writer; writers queue for the driver's timeout
    (SQLITE_BUSY_TIMEOUT_SECONDS: YieldingSqliteConnection, or sqlite3's busy_timeout
    for a plain connection), then fail with 503."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
