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


# How long a statement waits for another process's write to finish before it fails.
SQLITE_BUSY_SECONDS = 15.0


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class YieldingSqliteCursor(sqlite3.Cursor):
    """Waits for SQLite's write lock in turn, by sleeping in Python, not inside SQLite.

    SQLite's own busy handler sleeps in C, which under gevent freezes every request
    of the worker while one of them waits for another worker's write, and lets
    whoever retries at the right moment jump the queue. Here the requests of one
    process queue for writing on a lock (first come, first served), and the one at
    the head waits for other processes with time.sleep, which gevent turns into a
    pause of that request alone. Only the first write of a transaction can find
    the lock taken (pysqlite begins the transaction just before it) and no read
    snapshot is held yet, so running that statement again is safe.
    """

    def execute(self, sql, *args):
        return self.connection.write_in_turn(super().execute, sql, args)

    def executemany(self, sql, *args):
        return self.connection.write_in_turn(super().executemany, sql, args)


class YieldingSqliteConnection(sqlite3.Connection):
    _writers = threading.Lock()  # one writing transaction per process at a time (a gevent lock under gevent)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._writing = False

    def cursor(self, factory=YieldingSqliteCursor):
        return super().cursor(factory)

    def write_in_turn(self, run, sql, args):
        if self._writing or self.in_transaction or not sql.lstrip()[:7].upper().startswith(_WRITES):
            return run(sql, *args)
        YieldingSqliteConnection._writers.acquire()
        self._writing = True
        try:
            return _when_unlocked(run, (sql, *args))
        finally:
            if not self.in_transaction:  # failed, or autocommit: nothing holds the lock
                self._done_writing()

    def _done_writing(self):
        if self._writing:
            self._writing = False
            YieldingSqliteConnection._writers.release()

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


def _when_unlocked(run, args):
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
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
    """WAL lets readers run beside one writer; writers queue (YieldingSqliteCursor), not fail."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite answers "locked" at once; YieldingSqliteCursor waits (only plain
    # sqlite3 connections, e.g. other tools, still use SQLite's own wait).
    busy_ms = 0 if isinstance(dbapi_connection, YieldingSqliteConnection) else int(SQLITE_BUSY_SECONDS * 1000)
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
