import shutil
import threading
from datetime import timedelta

import pytest
from flask_migrate import upgrade

from app import clock as app_clock
from app import create_app
from app.extensions import db

from .fake_wechat import APPID, SECRET, FakeWeChat


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


@pytest.fixture
def config(tmp_path, migrated_sqlite, fake_wechat):
    db_path = tmp_path / "qrlogin.sqlite3"
    shutil.copy(migrated_sqlite, db_path)
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "PUBLIC_BASE_URL": None,
        "WECHAT_APPID": APPID,
        "WECHAT_SECRET": SECRET,
        "WECHAT_API_BASE": fake_wechat.base_url,
        "WECHAT_TIMEOUT_SECONDS": 1.0,
        "TICKET_TTL_SECONDS": 120,
        "POLL_MAX_WAIT_SECONDS": 25,
        "WAKE_CHECK_SECONDS": 0.2,
    }


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    app.extensions["qrlogin_waiters"].close()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def dev_app(config):
    """The service as `make run` starts it without WeChat credentials."""
    app = create_app({**config, "WECHAT_APPID": None, "WECHAT_SECRET": None})
    yield app
    app.extensions["qrlogin_waiters"].close()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def browser(app):
    """A PC browser: a client with its own cookie jar."""
    return app.test_client()


@pytest.fixture
def stranger(app):
    """Another browser that has seen the QR (over a shoulder, in a screenshot)."""
    return app.test_client()


class Phone:
    """The mini-program: signs in with a wx.login code and acts on tickets."""

    def __init__(self, client, code):
        self.client = client
        self.code = code
        self.token = None
        self.user = None

    def login(self):
        response = self.client.post("/api/mp/login", json={"code": self.code})
        assert response.status_code == 200, response.get_json()
        self.token = response.get_json()["token"]
        self.user = response.get_json()["user"]
        return self

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, ticket_id, action):
        return self.client.post(f"/api/mp/tickets/{ticket_id}/{action}", headers=self.headers())

    def scan(self, ticket_id):
        return self.post(ticket_id, "scan")

    def confirm(self, ticket_id):
        return self.post(ticket_id, "confirm")

    def cancel(self, ticket_id):
        return self.post(ticket_id, "cancel")

    def set_profile(self, **fields):
        return self.client.patch("/api/mp/me", json=fields, headers=self.headers())


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


def in_thread(fn, *args, **kwargs):
    """Run fn in a thread; returns (thread, result holder)."""
    result = {}

    def run():
        result["value"] = fn(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


# --- The real service (gunicorn on a free port) for end-to-end tests: browser, mini-program, CLI client.
from .live_server import live_server, start_live_server  # noqa: E402,F401  (fixtures)
