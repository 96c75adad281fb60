"""The bad day: the database, Redis, a worker or WeChat goes away while pages wait.

Each test starts the real service (gunicorn, bench/live_server.py) and real components of its
own, breaks one of them while login pages wait, and checks what people would notice. Each
backs a row of the README's "What happens when..." table. Pages are asyncio clients that poll
like the login page (tests/support/outages.py).
"""
import asyncio
import os
import signal
import sqlite3
import subprocess
import time

import pytest
import sqlalchemy as sa

from bench.live_server import LiveServer, migrate

from .support.outages import (Pages, PrivatePostgres, PrivateRedis, act, call, create_tickets, metric,
                              metrics_text, mp_token, until, waiting_polls)

# Waiting pages per test. The issue speaks of 1,000; on the 2-core test machine a few hundred
# keep each test well under a minute while still far more than one worker's worth of greenlets.
WAITING = int(os.environ.get("OUTAGE_WAITING_PAGES", "300"))


def live_env(tmp_path, **settings) -> dict:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "WAKE_CHECK_SECONDS": "0.2",
            "POLL_MAX_WAIT_SECONDS": "20", **settings}


def sqlite_server(tmp_path, migrated_sqlite, folder=None, **settings) -> LiveServer:
    import shutil

    path = (folder or tmp_path) / "live.sqlite3"
    shutil.copy(migrated_sqlite, path)
    return LiveServer(f"sqlite:///{path}", env=live_env(tmp_path, **settings), log_path=tmp_path / "gunicorn.log")


def assert_no_500(answers, server):
    bad = [a for a in answers if a is not None and a >= 500 and a != 503]
    assert not bad, f"{len(bad)} answers {sorted(set(bad))}:\n{server.log()}"
    assert "unhandled error" not in server.log()


@pytest.fixture
def private_postgres():
    pg = PrivatePostgres().init()
    yield pg
    pg.destroy()


# --- PostgreSQL restarts -------------------------------------------------------

def test_postgres_restart_while_pages_wait(private_postgres, tmp_path):
    url = private_postgres.url()
    migrate(url)
    server = LiveServer(url, env=live_env(tmp_path), log_path=tmp_path / "gunicorn.log")
    with server:
        asyncio.run(_postgres_restart(server, private_postgres))


async def _postgres_restart(server: LiveServer, pg: PrivatePostgres):
    port = server.port
    token = await mp_token(port, "alice")
    cookie, ids = await create_tickets(port, WAITING + 1)
    in_flight, waiting_ids = ids[0], ids[1:]
    assert await act(port, token, [in_flight], "scan") == [200]
    pages = Pages(port, cookie)
    pages.start(waiting_ids)
    pages.start([in_flight], since="scanned")
    assert await until(lambda: _at_least(port, WAITING + 1), timeout=30), "pages never all waited"

    # Traffic that keeps coming while the database is away: new codes, phones, polls, health checks.
    seen: list[tuple[str, int | None, str | None]] = []
    stop_traffic = asyncio.Event()

    async def traffic():
        while not stop_traffic.is_set():
            for method, path, kwargs in (("POST", "/api/tickets", {"cookie": cookie}),
                                         ("GET", "/api/mp/me", {"token": token}),
                                         ("GET", f"/api/tickets/{waiting_ids[0]}", {"cookie": cookie}),
                                         ("GET", "/readyz", {})):
                status, _, headers = await call(port, method, path, **kwargs)
                seen.append((path, status, (headers.get("retry-after") or [None])[0]))
            await asyncio.sleep(0.02)

    traffic_task = asyncio.create_task(traffic())
    # A login confirmed on the phone a moment before the database goes away.
    assert await act(port, token, [in_flight], "confirm") == [200]
    await asyncio.to_thread(pg.stop)
    down_since = len(seen)
    assert await until(lambda: _seen_down(seen[down_since:]), timeout=30), "no 503 seen while away"
    await asyncio.to_thread(pg.start)
    assert await until(lambda: _ready(port), timeout=30), "/readyz never came back"
    back = time.monotonic()
    stop_traffic.set()
    await traffic_task

    # The LISTEN connection of each worker comes back by itself.
    assert await until(lambda: asyncio.to_thread(_listeners, pg, 2), timeout=30), "LISTEN did not return"
    # Every waiting page is answered once the phone scans its code.
    assert all(code == 200 for code in await act(port, token, waiting_ids, "scan"))
    await pages.finish()

    while_away = seen[down_since:]
    assert any(path == "/readyz" and status == 503 for path, status, _ in while_away)
    assert all(retry for _, status, retry in seen if status == 503), "a 503 without Retry-After"
    assert_no_500([status for _, status, _ in seen] + [a.code for a in pages.all_answers()], server)
    by_id = {page.ticket_id: page for page in pages.pages}
    for tid in waiting_ids:
        page = by_id[tid]
        assert page.status == "scanned", page.answers
        # Since the database returned, the page's polls were answered, each of them.
        assert all(a.code == 200 for a in page.after(back)), page.answers
    # The login confirmed just before the restart completes: that page is signed in as alice.
    login = by_id[in_flight]
    assert login.status == "confirmed" and login.session_cookie, login.answers
    status, me, _ = await call(port, "GET", "/api/me", cookie=login.session_cookie)
    assert status == 200 and me["user"]["nickname"] == "alice"
    # Nothing lost: every code the pages waited on is in the database, scanned.
    statuses = await asyncio.to_thread(_ticket_statuses, pg, waiting_ids)
    assert statuses == {"scanned": WAITING}


async def _at_least(port: int, count: int) -> bool:
    return await waiting_polls(port) >= count


async def _seen_down(seen) -> bool:
    return sum(1 for _, status, _ in seen if status == 503) >= 8


async def _ready(port: int) -> bool:
    status, _, _ = await call(port, "GET", "/readyz")
    return status == 200


def _listeners(pg: PrivatePostgres, count: int) -> bool:
    try:
        return pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'qrlogin-listener'") >= count
    except sa.exc.OperationalError:
        return False


def _ticket_statuses(pg: PrivatePostgres, ids) -> dict:
    engine = sa.create_engine(pg.url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, count(*) FROM tickets WHERE id IN :ids GROUP BY status")
                                .bindparams(sa.bindparam("ids", expanding=True)), {"ids": list(ids)})
            return dict(rows.all())
    finally:
        engine.dispose()
