"""A morning login wave, a restart herd and a day's churn, played against the real server.

Each page does what the login page does: create a ticket (QR image included),
long-poll it with `since`, take the session the confirming poll hands over, and
read /api/me with it. Phones log in to the mini-program API once and then scan
and confirm codes, 50 at a time. Figures: wake latency (confirm answered ->
page's poll answered), errors (any non-2xx or broken connection), wake-ups
lost (the server's own counter), server CPU per completed login, and memory.
"""
import asyncio
import random
import re
import time
from pathlib import Path

from app.auth import signed_binding
from app.security import new_secret

from .httpclient import close, percentile, request, settle
from .live_server import SECRET_KEY, LiveServer

POLL_WAIT = 25
SESSION_COOKIE = re.compile(r"qrl_session=([^;]+)")


class Page:
    """One login page: creates its code, polls until logged in (or the code ends), reads /api/me."""

    def __init__(self, port: int):
        self.port = port
        self.bind = "qrl_bind=" + signed_binding(new_secret(), SECRET_KEY)  # as the server set it
        self.conn = None
        self.ticket_id = None
        self.status = None
        self.session = None
        self.answered_at = None  # when the poll that carried the confirmation answered
        self.errors: list[str] = []
        self.polls = 0

    async def call(self, method: str, path: str, cookie: str):
        for attempt in range(2):  # a kept-alive connection the server closed: open a new one once
            try:
                response, self.conn = await request("127.0.0.1", self.port, method, path, conn=self.conn,
                                                    headers={"Cookie": cookie}, timeout=POLL_WAIT + 30)
                return response
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                close(self.conn)
                self.conn = None
                if attempt:
                    raise exc

    async def create(self) -> bool:
        try:
            response = await self.call("POST", "/api/tickets", self.bind)
        except Exception as exc:
            self.errors.append(type(exc).__name__)
            return False
        if response.status != 201:
            self.errors.append(str(response.status))
            return False
        body = response.json()
        self.ticket_id, self.status = body["ticket_id"], body["status"]
        return True

    async def wait_for_login(self, stop_after: float | None = None) -> None:
        """Poll as the page does until the login is taken or the ticket ends."""
        while self.status in ("pending", "scanned", "confirmed"):
            if stop_after is not None and time.perf_counter() > stop_after:
                return
            try:
                response = await self.call(
                    "GET", f"/api/tickets/{self.ticket_id}?wait={POLL_WAIT}&since={self.status}",
                    self.bind)
            except Exception as exc:
                self.errors.append(type(exc).__name__)
                await asyncio.sleep(1 + random.random())
                continue
            self.polls += 1
            if response.status != 200:
                self.errors.append(str(response.status))
                await asyncio.sleep(1 + random.random())
                continue
            self.status = response.json()["status"]
            for value in response.headers.get("set-cookie", []):
                match = SESSION_COOKIE.search(value)
                if match:
                    self.session = match.group(1)
                    self.answered_at = time.perf_counter()
                    self.status = "consumed"
        if self.session:
            response = await self.call("GET", "/api/me", f"qrl_session={self.session}")
            if response.status != 200:
                self.errors.append(f"me {response.status}")
                self.session = None

    def close(self):
        close(self.conn)
        self.conn = None


class Phones:
    """`count` phones, each signed in once, scanning and confirming the codes put in `queue`."""

    def __init__(self, port: int, count: int = 50):
        self.port, self.count = port, count
        self.tokens: list[str] = []
        self.confirmed_at: dict[str, float] = {}
        self.errors: list[str] = []

    async def sign_in(self):
        async def one(i):
            response, conn = await request("127.0.0.1", self.port, "POST", "/api/mp/login",
                                           headers={"Content-Type": "application/json"},
                                           body=f'{{"code": "dev:phone{i}"}}'.encode())
            close(conn)
            return response.json()["token"]
        self.tokens = list(await asyncio.gather(*(one(i) for i in range(self.count))))

    async def work(self, queue: asyncio.Queue):
        await asyncio.gather(*(self._phone(token, queue) for token in self.tokens))

    async def _phone(self, token: str, queue: asyncio.Queue):
        conn, auth = None, {"Authorization": f"Bearer {token}"}
        while True:
            ticket_id = await queue.get()
            if ticket_id is None:
                break
            try:
                for step in ("scan", "confirm"):
                    response, conn = await request("127.0.0.1", self.port, "POST",
                                                   f"/api/mp/tickets/{ticket_id}/{step}", headers=auth, conn=conn)
                    if response.status != 200:
                        self.errors.append(f"{step} {response.status}")
                        break
                else:
                    self.confirmed_at[ticket_id] = time.perf_counter()
            except Exception as exc:
                self.errors.append(type(exc).__name__)
                close(conn)
                conn = None
        close(conn)


def metric(server: LiveServer, name: str) -> float:
    """A counter summed over the server's workers (the server runs with PROMETHEUS_MULTIPROC_DIR)."""
    import requests

    text = requests.get(server.url + "/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def open_pages(port: int, count: int, batch: int = 200) -> list[Page]:
    """Pages created in paced batches (as a morning's arrivals, not one SYN flood)."""
    pages = []
    for i in range(0, count, batch):
        group = [Page(port) for _ in range(min(batch, count - i))]
        await asyncio.gather(*(page.create() for page in group))
        pages += group
    return pages


async def scenario_wave(url: str, waiting: int, workdir: Path, env: dict, phones: int = 50) -> dict:
    """`waiting` pages wait; 50 phones then confirm every one of them. Full logins measured end to end."""
    log_path = workdir / f"wave-{waiting}.log"
    with LiveServer(url, workers=2, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"prom-{waiting}")},
                    log_path=log_path) as server:
        cpu_start = server.cpu_seconds()
        pages = await open_pages(server.port, waiting)
        tasks = [asyncio.create_task(page.wait_for_login()) for page in pages if page.ticket_id]
        await settle(server, timeout=120)
        rss = server.rss_bytes()
        phone_pool = Phones(server.port, phones)
        await phone_pool.sign_in()
        queue: asyncio.Queue = asyncio.Queue()
        for page in pages:
            if page.ticket_id:
                queue.put_nowait(page.ticket_id)
        for _ in range(phones):
            queue.put_nowait(None)
        started = time.perf_counter()
        await phone_pool.work(queue)
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_start
        lost = metric(server, "qrlogin_wakeups_lost_total")
        resent = metric(server, "qrlogin_wakeups_resent_total")
        woken = metric(server, "qrlogin_wake_latency_seconds_count")
        woken_in_1s = metric(server, 'qrlogin_wake_latency_seconds_bucket{le="1.0"}')
        for page in pages:
            page.close()
    logged_in = [p for p in pages if p.session]
    latencies = [max(0.0, p.answered_at - phone_pool.confirmed_at[p.ticket_id])
                 for p in logged_in if p.ticket_id in phone_pool.confirmed_at]
    errors = [e for p in pages for e in p.errors] + phone_pool.errors
    return {"waiting": waiting, "logins": len(logged_in), "errors": len(errors),
            "error_kinds": _kinds(errors), "lost": int(lost), "resent": int(resent),
            "server_woken_over_1s": int(woken - woken_in_1s), "rss_mb": rss / 2**20,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": max(latencies, default=float("nan")) * 1000,
            "cpu_ms_per_login": cpu / max(len(logged_in), 1) * 1000, "seconds": seconds}


async def scenario_herd(url: str, workdir: Path, env: dict, waiting: int = 2000) -> dict:
    """`waiting` pages wait; one worker is told to stop (a deploy). Every page must come back and
    be held again, and its next hold must end on time (within a second of its deadline), with no 5xx."""
    import os
    import signal

    with LiveServer(url, workers=2, env=env, log_path=workdir / "herd.log") as server:
        pages = await open_pages(server.port, waiting)
        answers: dict[Page, list[tuple[int, float, float]]] = {page: [] for page in pages}

        async def two_polls(page: Page):
            for _ in range(2):
                sent = time.perf_counter()
                try:
                    response = await page.call(
                        "GET", f"/api/tickets/{page.ticket_id}?wait={POLL_WAIT}&since=pending",
                        page.bind)
                    answers[page].append((response.status, sent, time.perf_counter()))
                except Exception as exc:
                    answers[page].append((type(exc).__name__, sent, time.perf_counter()))

        tasks = [asyncio.create_task(two_polls(page)) for page in pages]
        await settle(server, timeout=120)
        stopped = server.worker_pids()[0]
        signalled = time.perf_counter()
        os.kill(stopped, signal.SIGTERM)
        await asyncio.gather(*tasks)
        for page in pages:
            page.close()
    # Answered by the shutdown: within its spread (4 s) and a margin, long before any hold ends.
    cut = [a for a in answers.values() if a and 0 <= a[0][2] - signalled < 10]
    first_answers = sorted(a[0][2] - signalled for a in cut)
    late = [a[1][2] - (a[1][1] + POLL_WAIT) for a in cut if len(a) > 1]
    failed = [s for a in answers.values() for s, _, _ in a if s != 200]
    return {"waiting": waiting, "answered_by_shutdown": len(cut),
            "spread_s": (first_answers[-1] - first_answers[0]) if first_answers else 0.0,
            "came_back_ok": sum(1 for a in cut if len(a) > 1 and a[1][0] == 200),
            "late_over_1s": sum(1 for x in late if x > 1.0), "errors": len(failed), "error_kinds": _kinds(failed)}


async def scenario_churn(url: str, workdir: Path, env: dict, pages_count: int = 2000, minutes: float = 3,
                         logins_per_second: float = 5) -> dict:
    """`pages_count` pages keep polling (renewing their code when it expires, as the page does),
    while `logins_per_second` of them are scanned and confirmed, for `minutes`."""
    with LiveServer(url, workers=2, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prom-churn")},
                    log_path=workdir / "churn.log") as server:
        pages = await open_pages(server.port, pages_count)
        await settle(server, timeout=120)
        rss_start, cpu_start = server.rss_bytes(), server.cpu_seconds()
        stop_at = time.perf_counter() + minutes * 60
        phone_pool = Phones(server.port, 10)
        await phone_pool.sign_in()
        queue: asyncio.Queue = asyncio.Queue()
        created_at: dict[str, float] = {}
        done: list[float] = []
        errors: list[str] = []

        async def keep_open(page: Page):
            while time.perf_counter() < stop_at:
                await page.wait_for_login(stop_after=stop_at)
                errors.extend(page.errors)
                page.errors = []
                if page.session and page.ticket_id in created_at:
                    done.append(page.answered_at - created_at[page.ticket_id])
                if time.perf_counter() >= stop_at:
                    break
                page.session = None
                await page.create()  # expired or logged in: a fresh code, as the page does

        async def feed():
            while time.perf_counter() < stop_at:
                candidates = [p for p in pages if p.status == "pending" and p.ticket_id not in created_at]
                if candidates:
                    page = random.choice(candidates)
                    created_at[page.ticket_id] = time.perf_counter()
                    queue.put_nowait(page.ticket_id)
                await asyncio.sleep(1 / logins_per_second)
            for _ in range(phone_pool.count):
                queue.put_nowait(None)

        await asyncio.gather(feed(), phone_pool.work(queue), *(keep_open(page) for page in pages))
        cpu = server.cpu_seconds() - cpu_start
        rss_end = server.rss_bytes()
        lost = metric(server, "qrlogin_wakeups_lost_total")
        for page in pages:
            page.close()
    errors += phone_pool.errors
    return {"pages": pages_count, "minutes": minutes, "logins": len(done), "errors": len(errors),
            "error_kinds": _kinds(errors), "lost": int(lost),
            "p50_ms": percentile(done, 50) * 1000, "p99_ms": percentile(done, 99) * 1000,
            "cpu_percent": cpu / (minutes * 60) * 100, "rss_start_mb": rss_start / 2**20, "rss_end_mb": rss_end / 2**20}


def _kinds(errors: list) -> str:
    counts: dict[str, int] = {}
    for error in errors:
        counts[str(error)] = counts.get(str(error), 0) + 1
    return ", ".join(f"{kind} x{count}" for kind, count in sorted(counts.items()))


def chart(rows_by_db: dict[str, list[dict]], path: Path) -> None:
    """Wake latency (p50, p99) and total RSS against the number of waiting pages, per database."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, rows in rows_by_db.items():
        xs = [r["waiting"] for r in rows]
        left.plot(xs, [r["p50_ms"] for r in rows], marker="o", label=f"{kind} p50")
        left.plot(xs, [r["p99_ms"] for r in rows], marker="o", linestyle="--", label=f"{kind} p99")
        right.plot(xs, [r["rss_mb"] for r in rows], marker="o", label=kind)
    left.set(title="Wake latency (confirm -> page answered)", xlabel="pages waiting", ylabel="ms", yscale="log")
    right.set(title="Server memory (master + 2 workers)", xlabel="pages waiting", ylabel="RSS MB")
    right.axhline(400, color="grey", linewidth=0.8, linestyle=":")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
