"""The real service for end-to-end tests: gunicorn with the project's gunicorn.conf.py.

Each server runs on a free port against its own SQLite file built by
`flask --app wsgi db upgrade`, with WeChat faked by tests/fake_wechat.py (a real
HTTP server), so a mini-program signs in exactly as it would in production.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .conftest import Phone
from .fake_wechat import APPID, SECRET

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT = 20


def require_tool(name: str, why: str) -> str:
    """The path of a tool an end-to-end test needs; missing, it fails under CI=true and skips elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed; {why}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must have it: see .ci/run)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """gunicorn serving wsgi:app; stop() and start() again keep the port and the database."""

    def __init__(self, workdir: Path, wechat_base: str, **settings):
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **os.environ,
            "APP_ENV": "development",
            "SECRET_KEY": "live-server-test-key",
            "DATABASE_URL": f"sqlite:///{workdir / 'live.sqlite3'}",
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            "WECHAT_APPID": APPID,
            "WECHAT_SECRET": SECRET,
            "WECHAT_API_BASE": wechat_base,
            "WAKE_CHECK_SECONDS": "0.2",
            **{key: str(value) for key, value in settings.items()},
        }
        self.env.pop("PUBLIC_BASE_URL", None)
        self.process = None
        self.log_path = workdir / "gunicorn.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self):
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)
        return self

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                                            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()  # never leave a server behind
            raise
        return self

    def _wait_until_serving(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/login", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)  # waiting for a process to come up, not moving a TTL
        raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT} s:\n{self.log()}")

    def stop(self):
        """Quick shutdown (SIGQUIT): waiting polls are answered at once and the workers exit.

        A graceful SIGTERM would wait out graceful_timeout for idle keep-alive connections.
        """
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class BaseUrlSession(requests.Session):
    """A requests session whose paths are relative to one server."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        return super().request(method, self.base_url + url, *args, **kwargs)


class LivePhone(Phone):
    """The mini-program over real HTTP; answers are requests responses (`.json()`)."""

    def __init__(self, server: LiveServer, name: str):
        super().__init__(BaseUrlSession(server.url), f"ok-{name}")

    def login(self):
        response = self.client.post("/api/mp/login", json={"code": self.code})
        assert response.status_code == 200, response.text
        self.token, self.user = response.json()["token"], response.json()["user"]
        return self


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, fake_wechat):
    """The service as deployed (gunicorn, two workers), shared by the end-to-end tests."""
    server = LiveServer(tmp_path_factory.mktemp("live"), fake_wechat.base_url).migrate().start()
    yield server
    server.stop()


@pytest.fixture
def start_live_server(tmp_path, fake_wechat):
    """Starts a dedicated server with other settings (e.g. a short TTL); stopped after the test."""
    started = []

    def start(**settings):
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        server = LiveServer(workdir, fake_wechat.base_url, **settings).migrate()
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
