"""End-to-end fixtures: the real service (bench/live_server.py) with WeChat faked, and its clients.

The fixtures fake WeChat with tests/support/fake_wechat.py (a real HTTP server), so a
mini-program signs in exactly as it would in production.
"""
import os
import shutil
from pathlib import Path

import pytest

from bench.live_server import ROOT, BaseUrlSession, LiveServer

from .fake_wechat import APPID, SECRET
from .phone import Phone

ARTIFACTS = ROOT / "test-artifacts"
# Where the browser tests' phones keep their avatars (answered by the browser context, never fetched).
AVATAR_HOST = "https://avatars.example.test"


def require_tool(name: str, why: str) -> str:
    """The path of a tool an end-to-end test needs; missing, it fails under CI=true and skips elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed; {why}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must have it: see .ci/run)")
    pytest.skip(message)


def wechat_env(fake_wechat) -> dict:
    return {"WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_API_BASE": fake_wechat.base_url,
            "WAKE_CHECK_SECONDS": "0.2",
            # The browser tests' avatars stand for the service's own storage.
            "AVATAR_HOSTS": AVATAR_HOST.removeprefix("https://")}


class LivePhone(Phone):
    """The mini-program over real HTTP; answers are requests responses (`.json()`)."""

    def __init__(self, server: LiveServer, name: str):
        super().__init__(BaseUrlSession(server.url), f"ok-{name}")

    def login(self):
        response = self.client.post("/api/mp/login", json={"code": self.code})
        assert response.status_code == 200, response.text
        self.token, self.user = response.json()["token"], response.json()["user"]
        return self


def _wechat_server(workdir: Path, fake_wechat, **settings) -> LiveServer:
    return LiveServer(f"sqlite:///{workdir / 'live.sqlite3'}", env={**wechat_env(fake_wechat), **settings},
                      log_path=workdir / "gunicorn.log")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, fake_wechat):
    """The service as deployed (gunicorn, two workers), shared by the end-to-end tests."""
    server = _wechat_server(tmp_path_factory.mktemp("live"), fake_wechat).migrate().start()
    yield server
    server.stop()


@pytest.fixture
def start_live_server(tmp_path, fake_wechat):
    """Starts a dedicated server with other settings (e.g. a short TTL); stopped after the test."""
    started = []

    def start(**settings):
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        server = _wechat_server(workdir, fake_wechat, **settings).migrate()
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
