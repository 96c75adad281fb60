"""Property 25: local files are private. The SQLite database (logins, sessions) and the instance
folder (the database, the development key) are readable by the service's user only, and the
folder where SQLite processes exchange wake-ups is a 0700 folder of that user, never a shared,
guessable /tmp path someone else could have created first."""
import os
import shutil
import stat

import pytest

from app import create_app, wakeups
from app.extensions import db

from ..support.apps import serve


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def sqlite_file(migrated_sqlite, tmp_path):
    """A database file as a copy or an older release left it: readable by everyone."""
    path = tmp_path / "qrlogin.sqlite3"
    shutil.copy(migrated_sqlite, path)
    os.chmod(path, 0o644)
    return str(path)


@pytest.fixture
def config(sqlite_file):
    return {"TESTING": True, "SECRET_KEY": "test-secret-key", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{sqlite_file}"}


def test_property_25_the_database_and_instance_folder_are_private(config, sqlite_file):
    for app in serve(create_app(config)):
        with app.app_context():
            db.session.execute(db.text("SELECT 1"))
            db.session.remove()
        assert mode(sqlite_file) & 0o077 == 0
        assert mode(app.instance_path) & 0o077 == 0


def test_property_25_wake_up_sockets_live_in_a_private_folder(config, sqlite_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.mkdir(tmp_path / "run", 0o700)
    for app in serve(create_app(config)):
        channel = wakeups.hub(app).channel
        channel.start()
        assert channel.path and os.path.dirname(channel.path) == channel.folder
        assert channel.folder.startswith(str(tmp_path / "run"))
        for folder in (channel.folder, os.path.dirname(channel.folder)):
            assert os.stat(folder).st_uid == os.geteuid() and mode(folder) == 0o700


def test_property_25_a_folder_someone_else_prepared_is_not_used(config, sqlite_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.mkdir(tmp_path / "run", 0o700)
    os.mkdir(tmp_path / "run" / "qrlogin")
    os.chmod(tmp_path / "run" / "qrlogin", 0o777)  # open to everyone: it could hold anyone's sockets
    for app in serve(create_app(config)):
        channel = wakeups.hub(app).channel
        channel.start()
        assert channel.path is None  # no socket there; the periodic check carries the wake-ups
        assert not any(name.endswith(".sock") for _, _, names in os.walk(tmp_path / "run") for name in names)
