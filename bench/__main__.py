"""make bench: hold thousands of waiting login pages on the real server and measure.

Starts gunicorn with gunicorn.conf.py against SQLite and PostgreSQL and prints:
held polls (with total RSS and ordinary-request latency while they wait), wake
latency across servers, ticket creation throughput with QR images, idle
database queries per second, forward-auth checks (/auth/verify) per second with 1,000
logged-in sessions, and how fast the Official Account callback answers WeChat's pushes
(safe mode) and their retries. The client runs on the same machine.

    python -m bench [--db sqlite,postgresql] [--steps 1000,5000,10000] [--quick] [--only verify]
                    [--wave-steps 1000,5000] [--no-herd] [--churn | --churn-only]
    python -m bench --soak [SECONDS]   # only the soak (bench/soak.py), 1800 s by default

The login wave (bench/wave.py: pages waiting, 50 phones confirming all of them,
full logins with CPU per login and lost wake-ups), the restart herd, and a chart
of wake latency and memory against the number waiting (bench-results/wave.png)
run by default; the three-minute churn run only with --churn (or alone with
--churn-only).
"""
import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import oa_messages  # noqa: E402
from app.auth import signed_binding  # noqa: E402
from app.security import hash_secret, new_secret, new_ticket_id  # noqa: E402
from bench import live_server  # noqa: E402
from bench.live_server import LiveServer, migrate  # noqa: E402

from . import wave  # noqa: E402
from .httpclient import Timer, close, percentile, request, settle  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/qrl_bench"
POLL_WAIT = 25
SERVER_ENV = {"POLL_MAX_WAIT_SECONDS": str(POLL_WAIT)}  # LiveServer lifts the per-address limits


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --- databases ---------------------------------------------------------------

def prepare_database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{workdir}/bench.sqlite3"
    else:
        url = os.environ.get("BENCH_DATABASE_URL", PG_DEFAULT)
        target = sa.engine.make_url(url)
        admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
                conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
        admin.dispose()
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    migrate(url)
    return url


def seed_tickets(url: str, count: int, secret: str) -> list[str]:
    """Insert pending tickets bound to one browser secret (setup, not measured)."""
    engine = sa.create_engine(url)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [
        {"id": new_ticket_id(), "status": "pending", "browser_hash": hash_secret(secret), "created_at": now,
         "updated_at": now, "expires_at": now + timedelta(minutes=30), "pc_ip": "bench", "pc_user_agent": "bench"}
        for _ in range(count)
    ]
    table = sa.table("tickets", *(sa.column(k) for k in rows[0]))
    with engine.begin() as conn:
        for i in range(0, count, 2000):
            conn.execute(table.insert(), rows[i:i + 2000])
    engine.dispose()
    return [r["id"] for r in rows]


# --- client pieces -----------------------------------------------------------

def bind_cookie(secret: str) -> dict:
    """The binding cookie of the browser the seeded tickets belong to, signed as the server signs it."""
    return {"Cookie": f"qrl_bind={signed_binding(secret, live_server.SECRET_KEY)}"}


class Held:
    """Many waiting polls, opened in paced batches so the listen queue never overflows."""

    def __init__(self, port: int, ticket_ids: list[str], secret: str, since="pending", wait=POLL_WAIT):
        self.port, self.ticket_ids, self.secret = port, ticket_ids, secret
        self.since, self.wait = since, wait
        self.results: list[tuple[int | None, str, float]] = []
        self.tasks: list[asyncio.Task] = []

    async def start(self, batch=250, pause=0.1, server: LiveServer | None = None):
        """Open the polls a batch at a time. With `server` (run with PROMETHEUS_MULTIPROC_DIR), each
        batch waits until the server holds the previous ones: a CPU-starved worker that cannot accept
        as fast as the client connects overflows the listen queue, and the kernel resets those
        connections ~20 s later, which is the machine's limit, not the service's."""
        for i in range(0, len(self.ticket_ids), batch):
            if server is not None and i:
                await until_waiting(server, i - batch - len(self.results))  # answered ones wait no more
            for tid in self.ticket_ids[i:i + batch]:
                self.tasks.append(asyncio.create_task(self._one(tid)))
            await asyncio.sleep(pause)

    async def _one(self, tid):
        started = time.perf_counter()
        conn = None
        try:
            response, conn = await request(
                "127.0.0.1", self.port, "GET", f"/api/tickets/{tid}?wait={self.wait}&since={self.since}",
                headers=bind_cookie(self.secret), timeout=self.wait + 30)
            status = response.json().get("status") if response.status == 200 else str(response.status)
            self.results.append((response.status, status, time.perf_counter() - started))
        except Exception as exc:  # counted as an error
            self.results.append((None, type(exc).__name__, time.perf_counter() - started))
        finally:
            close(conn)

    async def finish(self):
        await asyncio.gather(*self.tasks)

    def errors(self) -> int:
        return sum(1 for code, _, _ in self.results if code != 200)

    def error_kinds(self) -> str:
        """What went wrong, e.g. "TimeoutError x3 after 55 s"; empty when nothing did."""
        failed = [(status, took) for code, status, took in self.results if code != 200]
        kinds = {}
        for status, took in failed:
            count, longest = kinds.get(status, (0, 0.0))
            kinds[status] = (count + 1, max(longest, took))
        return ", ".join(f"{kind} x{count} after {took:.0f} s" for kind, (count, took) in kinds.items())


async def until_waiting(server: LiveServer, count: int, timeout: float = 10) -> None:
    """Return once the server holds at least `count` waiting polls (or after `timeout` seconds)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        response, conn = await request("127.0.0.1", server.port, "GET", "/metrics")
        close(conn)
        waiting = sum(float(line.split()[-1]) for line in response.body.decode().splitlines()
                      if line.startswith("qrlogin_waiting_polls "))
        if waiting >= count:
            return
        await asyncio.sleep(0.1)


async def ordinary_latencies(port: int, rounds: int = 60) -> list[float]:
    """Ticket creation, /api/me and the login page, one after another on one connection."""
    conn, samples = None, []
    cookie = {"Cookie": f"qrl_bind={new_secret()}"}
    for _ in range(rounds):
        for method, path in (("POST", "/api/tickets"), ("GET", "/api/me"), ("GET", "/login")):
            with Timer() as t:
                response, conn = await request("127.0.0.1", port, method, path, headers=cookie, conn=conn)
            if response.status >= 500:
                raise RuntimeError(f"{method} {path} -> {response.status}")
            samples.append(t.seconds)
    close(conn)
    return samples


async def mp_token(port: int) -> str:
    response, conn = await request("127.0.0.1", port, "POST", "/api/mp/login",
                                   headers={"Content-Type": "application/json"}, body=b'{"code": "dev:bench"}')
    close(conn)
    return response.json()["token"]


# --- scenarios ---------------------------------------------------------------

async def scenario_held(url: str, steps: list[int], workdir: Path) -> list[dict]:
    rows = []
    env = {**SERVER_ENV, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prom-held")}
    with LiveServer(url, workers=2, env=env, log_path=workdir / "held.log") as server:
        for n in steps:
            secret = new_secret()
            ids = seed_tickets(url, n, secret)
            held = Held(server.port, ids, secret)
            started = time.perf_counter()
            await held.start(server=server)
            await settle(server)  # every poll has reached a worker and waits
            rss = server.rss_bytes()
            latencies = await ordinary_latencies(server.port)
            await held.finish()
            ok = sum(1 for code, status, took in held.results if code == 200 and status == "pending")
            rows.append({"waiting": n, "held_ok": ok, "errors": held.errors(), "kinds": held.error_kinds(),
                         "rss_mb": rss / 2**20,
                         "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
                         "seconds": time.perf_counter() - started})
            log(f"  held {n}: {rows[-1]}")
    return rows


async def scenario_wake(url: str, background: int, workdir: Path, samples: int = 100) -> dict:
    """Poll on server A (2 workers); scan and confirm on server B: never the same process."""
    with LiveServer(url, workers=2, env=SERVER_ENV, log_path=workdir / "wake-a.log") as a, \
            LiveServer(url, workers=1, env=SERVER_ENV, log_path=workdir / "wake-b.log") as b:
        secret = new_secret()
        cookie = bind_cookie(secret)
        held = Held(a.port, seed_tickets(url, background, secret), secret) if background else None
        if held:
            await held.start()
            await settle(a)
        auth = {"Authorization": f"Bearer {await mp_token(b.port)}"}
        latencies = []
        for _ in range(samples):
            created, conn = await request("127.0.0.1", a.port, "POST", "/api/tickets", headers=cookie)
            close(conn)
            tid = created.json()["ticket_id"]
            scanned, conn = await request("127.0.0.1", b.port, "POST", f"/api/mp/tickets/{tid}/scan", headers=auth)
            close(conn)
            poll = asyncio.create_task(request("127.0.0.1", a.port, "GET",
                                               f"/api/tickets/{tid}?wait={POLL_WAIT}&since=scanned", headers=cookie))
            await asyncio.sleep(0.05)  # the poll is waiting in server A
            confirmed, conn = await request("127.0.0.1", b.port, "POST", f"/api/mp/tickets/{tid}/confirm",
                                            headers=auth)
            confirmed_at = time.perf_counter()
            close(conn)
            answer, conn = await poll
            answered_at = time.perf_counter()
            close(conn)
            if confirmed.status != 200 or answer.json().get("status") != "confirmed":
                raise RuntimeError(f"wake sample failed: {confirmed.status} {answer.body[:200]}")
            # The poll may even answer before the confirm's own response arrives.
            latencies.append(max(0.0, answered_at - confirmed_at))
        if held:
            await held.finish()
        return {"waiting": background + 1, "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000, "errors": held.errors() if held else 0}


async def scenario_create(url: str, workdir: Path, seconds: float = 6, clients: int = 16) -> dict:
    with LiveServer(url, workers=2, env=SERVER_ENV, log_path=workdir / "create.log") as server:
        done, errors = 0, 0
        deadline = time.perf_counter() + seconds

        async def client():
            nonlocal done, errors
            conn, cookie = None, {"Cookie": f"qrl_bind={new_secret()}"}
            while time.perf_counter() < deadline:
                created, conn = await request("127.0.0.1", server.port, "POST", "/api/tickets", headers=cookie,
                                              conn=conn)
                # The creation answer carries the QR image (qr_svg), as the login page uses it.
                if created.status == 201 and created.json().get("qr_svg", "").startswith("<svg"):
                    done += 1
                else:
                    errors += 1
            close(conn)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return {"per_second": done / (time.perf_counter() - started), "errors": errors}


async def scenario_idle(url: str, kind: str, workdir: Path, waiting: int = 5000, window: float = 10) -> dict:
    """Statements the server sends while `waiting` polls wait and nothing happens.

    Counted from SQLAlchemy's statement log, so both databases are measured alike;
    on PostgreSQL the listener's keep-alive (one `SELECT 1` per worker every 5 s
    when idle) comes on top and is added.
    """
    log_path = workdir / "idle.log"
    with LiveServer(url, workers=2, env={**SERVER_ENV, "SQL_ECHO": "1"}, log_path=log_path) as server:
        secret = new_secret()
        held = Held(server.port, seed_tickets(url, waiting, secret), secret)
        await held.start()
        await settle(server)
        before = _echoed_statements(log_path)
        await asyncio.sleep(window)
        count = _echoed_statements(log_path) - before
        await held.finish()
    keepalive = 2 / 5 if kind == "postgresql" else 0
    return {"waiting": waiting, "queries_per_second": count / window + keepalive, "errors": held.errors()}


# An Official Account in safe mode; the callback never calls WeChat, so no real account is needed.
OA_ENV = {"QR_MODE": "official_account", "WECHAT_OA_APPID": "wx-bench-oa", "WECHAT_OA_SECRET": "unused",
          "WECHAT_OA_TOKEN": "benchtoken", "WECHAT_OA_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


def oa_push(ticket_id: str, openid: str) -> tuple[str, bytes]:
    """(path with query, body) of WeChat's encrypted subscribe push for `ticket_id`."""
    from urllib.parse import urlencode

    now = int(time.time())
    event = oa_messages.render({"ToUserName": "gh_bench", "FromUserName": openid, "CreateTime": now,
                                "MsgType": "event", "Event": "subscribe", "EventKey": f"qrscene_{ticket_id}"})
    encrypted = oa_messages.Crypto(OA_ENV["WECHAT_OA_APPID"], [OA_ENV["WECHAT_OA_AES_KEY"]]).encrypt(event)
    query = oa_messages.signed_query(OA_ENV["WECHAT_OA_TOKEN"], now, new_secret()[:10], openid=openid,
                                     encrypt_type="aes")
    query["msg_signature"] = oa_messages.signature(OA_ENV["WECHAT_OA_TOKEN"], query["timestamp"], query["nonce"],
                                                   encrypted)
    body = oa_messages.render({"ToUserName": "gh_bench", "Encrypt": encrypted})
    return "/api/oa/callback?" + urlencode(query), body


async def scenario_oa_callback(url: str, workdir: Path, events: int = 400, clients: int = 8) -> dict:
    """WeChat's pushes (each a new follower scanning a login code) and then their retries, `clients` at a time."""
    with LiveServer(url, workers=2, env={**SERVER_ENV, **OA_ENV}, log_path=workdir / "oa.log") as server:
        pushes = [oa_push(ticket_id, f"o-bench-{i}") for i, ticket_id in
                  enumerate(seed_tickets(url, events, new_secret()))]
        figures = {}
        for label in ("first", "retry"):
            latencies, errors, queue = [], 0, list(pushes)

            async def client():
                nonlocal errors
                conn = None
                while queue:
                    path, body = queue.pop()
                    with Timer() as timer:
                        answer, conn = await request("127.0.0.1", server.port, "POST", path, body=body, conn=conn,
                                                     headers={"Content-Type": "text/xml"})
                    latencies.append(timer.seconds)
                    errors += answer.status != 200 or b"<Encrypt>" not in answer.body
                close(conn)

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            figures[label] = {"per_second": len(pushes) / (time.perf_counter() - started), "errors": errors,
                              "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}
        return figures


def _echoed_statements(path: Path) -> int:
    """Statements SQLAlchemy logged (transaction BEGIN/COMMIT/ROLLBACK lines not counted)."""
    verbs = ("SELECT", "UPDATE", "INSERT", "DELETE", "PRAGMA")
    marker = "sqlalchemy.engine.Engine "
    return sum(1 for line in path.read_text(errors="ignore").splitlines()
               if marker in line and line.split(marker, 1)[1].startswith(verbs))


VERIFY_HOST = "wiki.corp.example"


def seed_sessions(url: str, count: int) -> list[str]:
    """`count` people, each logged in on one PC, last seen two minutes ago; returns their cookies."""
    from app import create_app, users
    from app.extensions import db
    from app.models import LoginSession

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    now = datetime.now(timezone.utc)
    tokens = [new_secret() for _ in range(count)]
    with app.app_context():
        for i, token in enumerate(tokens):
            user = users.find_or_create({"provider": "dev", "appid": "bench", "openid": f"dev:bench-{i}",
                                         "nickname": f"bench {i}"})
            db.session.add(LoginSession(token_hash=hash_secret(token), user_id=user.id, created_at=now,
                                        last_seen_at=now - timedelta(minutes=2), expires_at=now + timedelta(days=1),
                                        ip="bench", user_agent="bench"))
        db.session.commit()
        db.engine.dispose()
    return tokens


def age_sessions(url: str, minutes: float) -> datetime:
    """Make every session last seen `minutes` ago; returns now (setup, not measured)."""
    now = datetime.now(timezone.utc)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE login_sessions SET last_seen_at = :t"),
                     {"t": (now - timedelta(minutes=minutes)).replace(tzinfo=None)})
    engine.dispose()
    return now


def touched_sessions(url: str, since: datetime) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(sa.text("SELECT count(*) FROM login_sessions WHERE last_seen_at >= :t"),
                            {"t": since.replace(tzinfo=None)})
    engine.dispose()
    return count


async def scenario_verify(url: str, workdir: Path, sessions: int = 1000, seconds: float = 6,
                          clients: int = 16) -> list[dict]:
    """The reverse proxy's check, as nginx sends it, for `sessions` people (one check in 20 without a cookie).

    Twice: while every session was seen within the minute (no write at all), and when
    all were last seen two minutes ago (each session's first check writes last_seen_at once).
    """
    import random

    tokens = seed_sessions(url, sessions)
    env = {**SERVER_ENV, "FORWARD_AUTH_HOSTS": VERIFY_HOST, "SESSION_COOKIE_DOMAIN": ".corp.example",
           "FORWARD_AUTH_RULES": f"{VERIFY_HOST}/admin = admins"}
    server = LiveServer(url, workers=2, env=env, log_path=workdir / "verify.log")
    server.env["PUBLIC_BASE_URL"] = "https://login.corp.example"
    rows = []
    with server:
        for label, age in (("seen within the minute", 0), ("last seen 2 min ago", 2)):
            started_at = age_sessions(url, age)
            latencies, answers = [], {}
            deadline = time.perf_counter() + seconds

            async def client(seed):
                pick = random.Random(seed)
                conn = None
                while time.perf_counter() < deadline:
                    cookie = "" if pick.random() < 0.05 else f"__Secure-qrl_session={pick.choice(tokens)}"
                    headers = {"X-Original-URL": f"https://{VERIFY_HOST}/page/{pick.randrange(100)}",
                               "X-Original-Method": "GET", "Cookie": cookie}
                    with Timer() as t:
                        response, conn = await request("127.0.0.1", server.port, "GET", "/auth/verify",
                                                       headers=headers, conn=conn)
                    latencies.append(t.seconds)
                    key = "ok" if response.status == (200 if cookie else 401) else f"HTTP {response.status}"
                    answers[key] = answers.get(key, 0) + 1
                close(conn)

            began = time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(clients)))
            took = time.perf_counter() - began
            errors = sum(n for k, n in answers.items() if k != "ok")
            rows.append({"label": label, "sessions": sessions, "per_second": len(latencies) / took,
                         "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
                         "checks": len(latencies), "writes": touched_sessions(url, started_at) if age else 0,
                         "errors": errors, "kinds": ", ".join(f"{k} x{n}" for k, n in answers.items() if k != "ok")})
            log(f"  verify, {label}: {rows[-1]}")
    return rows


# --- report ------------------------------------------------------------------

def table(title: str, headers: list[str], rows: list[list]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([f"\n{title}", line(headers), line(["-" * w for w in widths]), *map(line, rows)])


async def run_wave(kinds: list[str], steps: list[int], herd: bool, churn: bool) -> tuple[list[str], dict]:
    """The login wave at each step, the restart herd and (on request) the churn run, per database."""
    out, rows_by_db = [], {}
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="qrl-bench-") as tmp:
            workdir = Path(tmp)
            url = prepare_database(kind, workdir)
            rows = []
            for n in steps:
                log(f"[{kind}] login wave: {n} waiting, 50 phones")
                try:
                    rows.append(await wave.scenario_wave(url, n, workdir, SERVER_ENV))
                except Exception as exc:  # one failed step is reported, the others still run
                    out.append(f"\n{kind}: login wave at {n} waiting failed: {type(exc).__name__} {exc}")
                    log(out[-1])
                    continue
                log(f"  {rows[-1]}")
            if rows:
                rows_by_db[kind] = rows
                out.append(table(
                    f"{kind}: login wave, N pages waiting then 50 phones confirming all (full logins: create, "
                    f"polls, scan, confirm, pick-up, /api/me)",
                    ["waiting", "logged in", "errors", "wake-ups lost", "wake p50 ms", "wake p99 ms", "wake max ms",
                     "CPU ms/login", "RSS MB at N waiting"],
                    [[r["waiting"], r["logins"], f"{r['errors']} ({r['error_kinds']})" if r["errors"] else 0,
                      r["lost"], f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.0f}",
                      f"{r['cpu_ms_per_login']:.1f}", f"{r['rss_mb']:.0f}"] for r in rows]))
            if herd:
                log(f"[{kind}] restart herd")
                h = await wave.scenario_herd(url, workdir, SERVER_ENV)
                log(f"  {h}")
                out.append(table(f"{kind}: restart herd, one worker stopped while {h['waiting']} pages wait",
                                 ["answered by the shutdown", "over s", "came back and held ok",
                                  "next hold > 1 s late", "errors"],
                                 [[h["answered_by_shutdown"], f"{h['spread_s']:.1f}", h["came_back_ok"],
                                   h["late_over_1s"], f"{h['errors']} ({h['error_kinds']})" if h["errors"] else 0]]))
            if churn:
                log(f"[{kind}] churn: 2000 pages, 5 logins/s, 3 minutes")
                c = await wave.scenario_churn(url, workdir, SERVER_ENV)
                log(f"  {c}")
                out.append(table(f"{kind}: churn, {c['pages']} pages polling and renewing codes, 5 logins/s, "
                                 f"{c['minutes']:.0f} min",
                                 ["logins", "errors", "wake-ups lost", "login p50 ms", "login p99 ms", "server CPU %",
                                  "RSS start MB", "RSS end MB"],
                                 [[c["logins"], f"{c['errors']} ({c['error_kinds']})" if c["errors"] else 0, c["lost"],
                                   f"{c['p50_ms']:.0f}", f"{c['p99_ms']:.0f}", f"{c['cpu_percent']:.0f}",
                                   f"{c['rss_start_mb']:.0f}", f"{c['rss_end_mb']:.0f}"]]))
    return out, rows_by_db


async def run(kinds: list[str], steps: list[int], quick: bool, only: str | None = None) -> str:
    out = [f"qrlogin bench {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
           f"gunicorn.conf.py (2 gevent workers), client on the same machine"]
    for kind in kinds:
        if only == "verify":
            out.append(await verify_report(kind, quick))
            continue
        with tempfile.TemporaryDirectory(prefix="qrl-bench-") as tmp:
            workdir = Path(tmp)
            url = prepare_database(kind, workdir)
            log(f"[{kind}] held polls {steps}")
            held = await scenario_held(url, steps, workdir)
            log(f"[{kind}] wake latency")
            wakes = [await scenario_wake(url, 0, workdir, samples=50 if quick else 100)]
            wakes.append(await scenario_wake(url, 999, workdir, samples=50 if quick else 100))
            log(f"[{kind}] create throughput")
            create = await scenario_create(url, workdir, seconds=3 if quick else 6)
            log(f"[{kind}] idle queries")
            idle = await scenario_idle(url, kind, workdir, waiting=1000 if quick else 5000)
            log(f"[{kind}] Official Account callback")
            oa = await scenario_oa_callback(url, workdir, events=200 if quick else 400)
        out.append(table(f"{kind}: waiting polls held (wait={POLL_WAIT}s) and ordinary requests meanwhile",
                         ["waiting", "held ok", "errors", "total RSS MB", "ordinary p50 ms", "ordinary p99 ms"],
                         [[r["waiting"], r["held_ok"], f"{r['errors']} ({r['kinds']})" if r["errors"] else 0,
                           f"{r['rss_mb']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}"] for r in held]))
        out.append(table(f"{kind}: wake latency, confirm answered -> waiting poll answered (other server)",
                         ["waiting", "p50 ms", "p99 ms", "errors"],
                         [[w["waiting"], f"{w['p50_ms']:.1f}", f"{w['p99_ms']:.1f}", w["errors"]] for w in wakes]))
        out.append(table(f"{kind}: ticket creation with QR image (16 clients)", ["tickets/s", "errors"],
                         [[f"{create['per_second']:.0f}", create["errors"]]]))
        out.append(table(f"{kind}: idle database queries while polls wait", ["waiting", "queries/s", "errors"],
                         [[idle["waiting"], f"{idle['queries_per_second']:.2f}", idle["errors"]]]))
        out.append(table(f"{kind}: Official Account callback, encrypted scan events (8 at a time; WeChat waits 5 s)",
                         ["delivery", "events/s", "p50 ms", "p99 ms", "errors"],
                         [[label, f"{f['per_second']:.0f}", f"{f['p50_ms']:.1f}", f"{f['p99_ms']:.1f}", f["errors"]]
                          for label, f in oa.items()]))
        out.append(await verify_report(kind, quick))
    return "\n".join(out)


async def verify_report(kind: str, quick: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="qrl-bench-") as tmp:
        workdir = Path(tmp)
        url = prepare_database(kind, workdir)
        log(f"[{kind}] forward-auth checks")
        rows = await scenario_verify(url, workdir, seconds=3 if quick else 6)
    return table(f"{kind}: forward-auth checks (GET /auth/verify, 16 clients, {rows[0]['sessions']} logged-in sessions)",
                 ["sessions", "checks/s", "p50 ms", "p99 ms", "last_seen_at writes", "errors"],
                 [[v["label"], f"{v['per_second']:.0f}", f"{v['p50_ms']:.1f}", f"{v['p99_ms']:.1f}",
                   f"{v['writes']} in {v['checks']} checks", f"{v['errors']} ({v['kinds']})" if v["errors"] else 0]
                  for v in rows])


async def run_soak(kinds: list[str], seconds: float) -> str:
    from .soak import soak

    out = [f"qrlogin soak {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
           f"gunicorn.conf.py (2 gevent workers), client on the same machine"]
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="qrl-soak-") as tmp:
            url = prepare_database(kind, Path(tmp))
            log(f"[{kind}] soak {seconds:.0f} s")
            r = await soak(url, seconds, Path(tmp), log)
        out.append(table(f"{kind}: soak, {r['pages']} pages re-polling, codes renewing every {r['ttl']} s, "
                         f"logins all along", ["seconds", "logins", "renewals", "polls", "RSS start MB",
                                               "RSS end MB", "errors"],
                         [[f"{r['seconds']:.0f}", r["logins"], r["renewals"], r["polls"], f"{r['rss_start_mb']:.0f}",
                           f"{r['rss_end_mb']:.0f}",
                           f"{r['errors']} ({r['error_kinds']})" if r["errors"] else 0]]))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--steps", default="1000,5000,10000")
    parser.add_argument("--quick", action="store_true", help="smaller samples, for a fast look")
    parser.add_argument("--wave-steps", default="1000,5000",
                        help="pages waiting in each login-wave run (the issue's full set: 1000,5000,10000,10000,10000); "
                             "empty: none")
    parser.add_argument("--no-herd", action="store_true", help="skip the restart herd")
    parser.add_argument("--churn", action="store_true", help="also the three-minute churn run")
    parser.add_argument("--churn-only", action="store_true", help="only the churn run")
    parser.add_argument("--only", choices=["verify"], help="run one scenario: verify (forward-auth checks)")
    parser.add_argument("--soak", type=float, nargs="?", const=1800, metavar="SECONDS",
                        help="run only the soak (an office's day) for this long; 1800 s when no number is given")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per held poll, here and in gunicorn
    kinds = args.db.split(",")
    Path("bench-results").mkdir(exist_ok=True)
    if args.soak:
        report = asyncio.run(run_soak(kinds, args.soak))
        print(report)
        Path("bench-results/soak.txt").write_text(report + "\n")
        return
    if args.only:
        report = asyncio.run(run(kinds, [], args.quick, args.only))
        print(report)
        Path(f"bench-results/{args.only}.txt").write_text(report + "\n")
        return
    if args.churn_only:
        parts, _ = asyncio.run(run_wave(kinds, [], herd=False, churn=True))
        report = "\n".join(parts)
    else:
        report = asyncio.run(run(kinds, [int(s) for s in args.steps.split(",") if s], args.quick))
        wave_steps = [int(s) for s in args.wave_steps.split(",") if s]
        parts, rows_by_db = asyncio.run(run_wave(kinds, wave_steps, herd=not args.no_herd, churn=args.churn))
        report = "\n".join([report, *parts])
        if rows_by_db:
            wave.chart(rows_by_db, Path("bench-results/wave.png"))
            report += "\n\nchart: bench-results/wave.png"
    print(report)
    Path("bench-results/latest.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
