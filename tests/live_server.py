"""Run the real server (gunicorn with the project's gunicorn.conf.py) for tests and benchmarks."""
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate(database_url: str, env: dict | None = None) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, "APP_ENV": "development", "DATABASE_URL": database_url, **(env or {})},
                   capture_output=True)


class LiveServer:
    """gunicorn in its own process group; `url` is its base URL."""

    def __init__(self, database_url: str, workers: int = 2, port: int | None = None, env: dict | None = None,
                 log_path: Path | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
            **(env or {}),
        }
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> "LiveServer":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/login", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start in time")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

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
