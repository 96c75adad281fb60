"""The real service for end-to-end tests and the benchmark: gunicorn with the project's gunicorn.conf.py.

Each server runs on a free port against a database migrated by `flask --app wsgi db upgrade`.
The end-to-end fixtures fake WeChat with tests/fake_wechat.py (a real HTTP server), so a
mini-program signs in exactly as it would in production.
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

from .phone import Phone

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT = 30


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


def migrate(database_url: str, env: dict | None = None) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, "APP_ENV": "development", "DATABASE_URL": database_url, **(env or {})},
                   capture_output=True)


class LiveServer:
    """gunicorn serving wsgi:app in its own process group; stop() and start() again keep port and database."""

    def __init__(self, database_url: str, workers: int = 2, env: dict | None = None, log_path: Path | None = None):
        self.port = free_port()
        self.database_url = database_url
        self.env = {
            **os.environ,
            "APP_ENV": "development",
            "SECRET_KEY": "live-server-test-key",
            "DATABASE_URL": database_url,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            # These tests play many browsers from one address: no per-address limits.
            "TICKET_RATE_LIMIT": "",
            "MAX_PENDING_TICKETS_PER_IP": "0",
            "POLL_RATE_LIMIT": "",
            **{key: str(value) for key, value in (env or {}).items()},
        }
        self.env.pop("PUBLIC_BASE_URL", None)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> "LiveServer":
        migrate(self.database_url, self.env)
        return self

    def start(self) -> "LiveServer":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()  # never leave a server behind
            raise
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/login", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)  # waiting for a process to come up, not moving a TTL
        raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT} s:\n{self.log()}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """Quick shutdown (SIGQUIT): waiting polls are answered at once and the workers exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the master and all its workers."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.proc.pid, *self.worker_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except FileNotFoundError:
                pass
        return total / ticks

    def rss_bytes(self) -> int:
        """Resident memory of the master and all its workers."""
        total = 0
        for pid in [self.proc.pid, *self.worker_pids()]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except FileNotFoundError:
                pass
        return total

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wechat_env(fake_wechat) -> dict:
    from .fake_wechat import APPID, SECRET

    return {"WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_API_BASE": fake_wechat.base_url,
            "WAKE_CHECK_SECONDS": "0.2"}


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
