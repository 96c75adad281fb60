"""Real components a test starts and breaks: a private PostgreSQL, a private Redis, waiting pages.

PrivatePostgres runs its own cluster (initdb, pg_ctl) on a free port in a folder of its own,
never the shared server. PostgreSQL refuses to run as root, so under root it runs as the
`postgres` account (runuser), in a folder that account owns. Pages are asyncio clients that
poll like app/static/login.js: again at once after an answer with the same status, after
Retry-After on a 503, after a short back-off when the connection fails.
"""
import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.httpclient import close, request
from bench.live_server import free_port

from .live import require_tool


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI must have it: see .ci/run)", pytrace=False)
    pytest.skip(reason)


def postgres_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        _unavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on its own port; stop() and start() keep its data."""

    def __init__(self):
        self.bindir = postgres_bindir()
        self.port = free_port()
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="qrl-pg-"))
        self.data = self.folder / "data"
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> "PrivatePostgres":
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")
        return self.start()

    def start(self) -> "PrivatePostgres":
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=60")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        """Fast shutdown: connected sessions are cut, as in a restart by an operator or a crash."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def scalar(self, sql: str):
        engine = sa.create_engine(self.url(), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.scalar(sa.text(sql))
        finally:
            engine.dispose()


class PrivateRedis:
    """redis-server of the test's own, on its own port, keeping nothing on disk."""

    def __init__(self, folder: Path):
        self.binary = require_tool("redis-server", "the rate-limit store outage test starts its own Redis")
        self.folder = folder
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)  # waiting for the process to come up
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


# --- pages ---------------------------------------------------------------------

@dataclass
class Answer:
    started: float
    ended: float
    code: int | None  # None: the connection failed
    status: str | None = None  # the ticket's status in a 200
    error: str | None = None
    retry_after: str | None = None


@dataclass
class Page:
    """One login page waiting on one ticket, polling until the ticket leaves `since`."""
    ticket_id: str
    since: str = "pending"
    answers: list[Answer] = field(default_factory=list)
    session_cookie: str | None = None

    @property
    def status(self) -> str | None:
        done = [a.status for a in self.answers if a.code == 200]
        return done[-1] if done else None

    def after(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.started >= moment]


class Pages:
    """Many pages of one browser (one binding cookie), against one server port."""

    def __init__(self, port: int, bind_cookie: str, wait: int = 20):
        self.port, self.cookie, self.wait = port, bind_cookie, wait
        self.pages: list[Page] = []
        self.tasks: list[asyncio.Task] = []

    def start(self, ticket_ids, since="pending") -> None:
        for tid in ticket_ids:
            page = Page(tid, since)
            self.pages.append(page)
            self.tasks.append(asyncio.create_task(self._run(page)))

    async def _run(self, page: Page) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            answer = await self._poll(page)
            page.answers.append(answer)
            if answer.code == 200 and answer.status != page.since:
                return
            if answer.code is None:
                await asyncio.sleep(0.2)  # the page's back-off after a network error
            elif answer.code != 200:
                await asyncio.sleep(float(answer.retry_after or 1))

    async def _poll(self, page: Page) -> Answer:
        started, conn = time.monotonic(), None
        try:
            response, conn = await request(
                "127.0.0.1", self.port, "GET", f"/api/tickets/{page.ticket_id}?wait={self.wait}&since={page.since}",
                headers={"Cookie": self.cookie}, timeout=self.wait + 20)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
            return Answer(started, time.monotonic(), None, error=type(exc).__name__)
        finally:
            close(conn)
        body = response.json() if response.body else {}
        for header in response.headers.get("set-cookie", []):
            if header.startswith("qrl_session="):
                page.session_cookie = header.split(";", 1)[0]
        return Answer(started, time.monotonic(), response.status, status=body.get("status"),
                      error=(body.get("error") or {}).get("code"),
                      retry_after=(response.headers.get("retry-after") or [None])[0])

    async def finish(self, timeout: float = 60) -> None:
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout)

    def all_answers(self) -> list[Answer]:
        return [a for page in self.pages for a in page.answers]


def run_scenario(coroutine) -> None:
    """Run an async scenario to its end in a thread of its own: other tests (Playwright's
    sync API) may leave an event loop running in the main thread, where asyncio.run refuses."""
    outcome = {}

    def target():
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="outage-scenario")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]


async def call(port: int, method: str, path: str, *, cookie: str | None = None, token: str | None = None,
               json_body: str | None = None, headers: dict | None = None):
    """One request on a new connection; (status, json body or {}, headers) or (None, error, {})."""
    headers = dict(headers or {})
    if cookie:
        headers["Cookie"] = cookie
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = b""
    if json_body is not None:
        headers["Content-Type"] = "application/json"
        body = json_body.encode()
    conn = None
    try:
        response, conn = await request("127.0.0.1", port, method, path, headers=headers, body=body, timeout=30)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
        return None, {"error": type(exc).__name__}, {}
    finally:
        close(conn)
    try:
        data = response.json() if response.body else {}
    except ValueError:
        data = {"text": response.body[:200]}
    return response.status, data, response.headers


async def create_tickets(port: int, count: int, cookie: str | None = None, batch: int = 20):
    """`count` tickets of one browser; returns (binding cookie, ticket ids)."""
    if cookie is None:
        status, data, headers = await call(port, "POST", "/api/tickets")
        assert status == 201, data
        cookie = next(h.split(";", 1)[0] for h in headers["set-cookie"] if h.startswith("qrl_bind="))
        ids, count = [data["ticket_id"]], count - 1
    else:
        ids = []
    while count > 0:
        results = await asyncio.gather(*(call(port, "POST", "/api/tickets", cookie=cookie)
                                         for _ in range(min(batch, count))))
        for status, data, _ in results:
            assert status == 201, data
            ids.append(data["ticket_id"])
        count -= len(results)
    return cookie, ids


async def mp_token(port: int, name: str) -> str:
    status, data, _ = await call(port, "POST", "/api/mp/login", json_body=f'{{"code": "dev:{name}"}}')
    assert status == 200, data
    return data["token"]


async def act(port: int, token: str, ticket_ids, action: str, batch: int = 20) -> list[int]:
    """The phone scans (or confirms) these tickets; the statuses it got."""
    codes = []
    ids = list(ticket_ids)
    for i in range(0, len(ids), batch):
        results = await asyncio.gather(*(call(port, "POST", f"/api/mp/tickets/{tid}/{action}", token=token)
                                         for tid in ids[i:i + batch]))
        codes += [status for status, _, _ in results]
    return codes


async def waiting_polls(port: int) -> float:
    """The server's gauge of waiting polls, summed over its workers (PROMETHEUS_MULTIPROC_DIR)."""
    return metric(await metrics_text(port), "qrlogin_waiting_polls")


async def metrics_text(port: int) -> str:
    conn = None
    try:
        response, conn = await request("127.0.0.1", port, "GET", "/metrics", timeout=10)
        return response.body.decode()
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return ""
    finally:
        close(conn)


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def until(condition, timeout: float = 30, every: float = 0.1) -> bool:
    """Wait for something the server does in the background (never to move a TTL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(every)
    return False
