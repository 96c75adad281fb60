"""Flask extensions, created unbound so models and blueprints can import them."""
import os
import sqlite3

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.exc import SQLAlchemyError
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


def discard_session(exc=None) -> None:
    """End the request's session even when its connection died under it (the pool replaces it).

    Registered as the app's last teardown, so a database restarting after the
    answer was built cannot turn that answer into a 500.
    """
    try:
        db.session.remove()
    except SQLAlchemyError:
        db.session.registry.clear()


@event.listens_for(Engine, "connect")
def _sqlite_for_concurrency(dbapi_connection, connection_record):
    """WAL lets readers run beside one writer; writers queue for the driver's timeout
    (SQLITE_BUSY_TIMEOUT_SECONDS, sqlite3's busy_timeout), then fail with 503."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    files = [row[2] for row in cursor.execute("PRAGMA database_list") if row[2]]
    cursor.close()
    for path in files:
        private_file(path)  # SQLite gives the -wal and -shm files the same mode


def private_file(path: str) -> None:
    """Readable by this user only (logins and sessions are in there); others' files are left alone."""
    try:
        info = os.stat(path)
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.chmod(path, info.st_mode & 0o700)
    except OSError:
        pass
