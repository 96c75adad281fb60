"""The real service as deployed: gunicorn with the project's gunicorn.conf.py, on a free port.

Each server runs against a database migrated by `flask --app wsgi db upgrade`. The
benchmark and the end-to-end tests (tests/support/live.py) both start it from here.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_TIMEOUT = 30
SECRET_KEY = "live-server-test-key-8f3a9c2e7b41d65f0a9e3c7d2b18f46e"  # known to the benchmark, which binds tickets it seeds itself


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
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            # These tests play many browsers from one address: no per-address limits.
            "TICKET_RATE_LIMIT": "",
            "TICKET_RATE_LIMIT_PER_ADDRESS": "",
            "MAX_OPEN_TICKETS_PER_BROWSER": "0",
            "MAX_OPEN_TICKETS_PER_ADDRESS": "0",
            "POLL_RATE_LIMIT": "",
            "QR_IMAGE_RATE_LIMIT": "",
            "MP_LOGIN_RATE_LIMIT": "",
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


class BaseUrlSession(requests.Session):
    """A requests session whose paths are relative to one server."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        return super().request(method, self.base_url + url, *args, **kwargs)
