import io
import logging
import os
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import clock as app_clock
from app import create_app
from app.extensions import db

from .support.apps import official_account, serve
from .support.fake_wechat import APPID, SECRET, FakeWeChat
from .support.phone import Phone


@pytest.fixture(scope="session")
def fake_wechat():
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A database file built once by the real migrations; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


def _unavailable(reason: str):
    """Outside CI a missing PostgreSQL skips its half of the suite; in CI it fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_unconfigure(config):
    """The last line, when the PostgreSQL half did not run: how many, and how to turn it on."""
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is None:
        return
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if "TEST_DATABASE_URL is not set" in str(report.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL tests skipped: set TEST_DATABASE_URL=postgresql+psycopg://USER@HOST/DB "
            "(a database the tests may empty) to run them.", yellow=True)


def _rebuild_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as exc:
        _unavailable(f"cannot reach {engine.url.render_as_string()}: {exc.orig}")
    finally:
        engine.dispose()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _migration_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    config = Config()
    config.set_main_option("script_location", folder)
    return ScriptDirectory.from_config(config).get_current_head()


@pytest.fixture(scope="session")
def migrated_postgres():
    """The PostgreSQL database named by TEST_DATABASE_URL, emptied and migrated once."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        _unavailable("TEST_DATABASE_URL is not set")
    _rebuild_postgres(url)
    return url, _migration_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, migrated_sqlite):
    """Every test that uses the app runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        db_path = tmp_path / "qrlogin.sqlite3"
        shutil.copy(migrated_sqlite, db_path)
        return f"sqlite:///{db_path}"
    url, head = request.getfixturevalue("migrated_postgres")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.ProgrammingError:
        version = None
    if version != head:  # an earlier test migrated or stamped the database: build it again
        engine.dispose()
        _rebuild_postgres(url)
        engine = sa.create_engine(url)
    tables = [t for t in sa.inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def config(database_url, fake_wechat):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PUBLIC_BASE_URL": None,
        "WECHAT_APPID": APPID,
        "WECHAT_SECRET": SECRET,
        "WECHAT_API_BASE": fake_wechat.base_url,
        "WECHAT_TIMEOUT_SECONDS": 1.0,
        "TICKET_TTL_SECONDS": 120,
        "POLL_MAX_WAIT_SECONDS": 25,
        "WAKE_CHECK_SECONDS": 0.2,
        "WECHAT_RETRY_BACKOFF_SECONDS": 0.01,
    }


@pytest.fixture
def app(config):
    yield from serve(create_app(config))


@pytest.fixture
def dev_app(config):
    """The service as `make run` starts it without WeChat credentials."""
    yield from serve(create_app({**config, "WECHAT_APPID": None, "WECHAT_SECRET": None}))


@pytest.fixture
def browser(app):
    """A PC browser: a client with its own cookie jar."""
    return app.test_client()


@pytest.fixture
def stranger(app):
    """Another browser that has seen the QR (over a shoulder, in a screenshot)."""
    return app.test_client()


@pytest.fixture
def phone(app):
    return Phone(app.test_client(), "ok-alice").login()


@pytest.fixture
def other_phone(app):
    return Phone(app.test_client(), "ok-bob").login()


@pytest.fixture
def ticket(browser):
    response = browser.post("/api/tickets")
    assert response.status_code == 201
    return response.get_json()


class Clock:
    def __init__(self):
        self.offset = timedelta(0)

    def advance(self, seconds: float):
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    """Moves the service's clock forward without sleeping."""
    fake = Clock()
    real = app_clock._source
    monkeypatch.setattr(app_clock, "_source", lambda: real() + fake.offset)
    return fake


# --- WeChat and operations -----------------------------------------------------

@pytest.fixture
def wechat(fake_wechat):
    """The fake WeChat server with a fresh token, no scripted failures and no recorded calls."""
    fake_wechat.reset()
    yield fake_wechat
    fake_wechat.reset()


@pytest.fixture
def wxacode_app(config, wechat):
    """The service drawing mini-program codes (QR_MODE=wxacode) with the fake WeChat."""
    yield from serve(create_app({**config, "QR_MODE": "wxacode"}))


@pytest.fixture
def oa_app(config, wechat):
    """The service in QR_MODE=official_account, plain mode, with the fake WeChat."""
    yield from serve(create_app(official_account(config)))


@pytest.fixture
def oa_safe_app(config, wechat):
    """The same in safe mode: pushes and replies encrypted with the EncodingAESKey."""
    yield from serve(create_app(official_account(config, safe=True)))


@pytest.fixture
def log_lines(app):
    """Call it to get every line the `app` has logged since the test started."""
    handler = next(h for h in logging.getLogger("app").handlers if getattr(h, "qrlogin", False))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: stream.getvalue().splitlines()
    handler.setStream(previous)


# --- The real service (gunicorn on a free port) for end-to-end tests: browser, mini-program, CLI client.
from .support.live import live_server, start_live_server  # noqa: E402,F401  (fixtures)
