"""Soak: an office's day on the real server, to see memory stay flat and errors stay at zero.

Login pages wait and re-poll (wait=25), their codes renew when they expire, and phones log
people in all along (scan, confirm, the page picks its session up and the person's next
login starts on a fresh code). Memory (master and workers) is sampled from start to end.

    make bench BENCH_ARGS="--db sqlite --soak"        # 30 minutes
    make bench BENCH_ARGS="--db sqlite --soak 120"    # a short look
"""
import asyncio
import random
import time
from pathlib import Path

from bench.live_server import LiveServer

from .httpclient import close, request

PAGES = 200
POLL_WAIT = 25
LOGINS_PER_SECOND = 2.0


class Office:
    def __init__(self, port: int, deadline: float):
        self.port, self.deadline = port, deadline
        self.errors: dict[str, int] = {}
        self.logins = self.renewals = self.polls = 0
        self.open_codes: dict[str, str] = {}  # ticket id -> the page's binding cookie, while pending

    def _error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def _call(self, method, path, headers=None, body=b""):
        conn = None
        try:
            response, conn = await request("127.0.0.1", self.port, method, path, headers=headers or {}, body=body,
                                           timeout=POLL_WAIT + 30)
            return response
        except Exception as exc:  # counted: a soak must show every failure
            self._error(type(exc).__name__)
            return None
        finally:
            close(conn)

    async def page(self, number: int) -> None:
        """One person's login page: a code, waiting, renewing, logging in, again."""
        await asyncio.sleep(random.uniform(0, 5))  # people arrive over a few seconds
        cookie = ""
        while time.monotonic() < self.deadline:
            created = await self._call("POST", "/api/tickets", {"Cookie": cookie} if cookie else {})
            if created is None or created.status != 201:
                self._error(f"create {created.status if created else ''}")
                await asyncio.sleep(1)
                continue
            for header in created.headers.get("set-cookie", []):
                if header.startswith("qrl_bind="):
                    cookie = header.split(";", 1)[0]
            tid, status = created.json()["ticket_id"], "pending"
            self.open_codes[tid] = cookie
            while time.monotonic() < self.deadline and status in ("pending", "scanned"):
                answer = await self._call("GET", f"/api/tickets/{tid}?wait={POLL_WAIT}&since={status}",
                                          {"Cookie": cookie})
                self.polls += 1
                if answer is None or answer.status != 200:
                    self._error(f"poll {answer.status if answer else ''}")
                    await asyncio.sleep(1)
                    continue
                status = answer.json()["status"]
            self.open_codes.pop(tid, None)
            if status == "expired":
                self.renewals += 1
            elif status == "confirmed":
                self.logins += 1
                session = next((h.split(";", 1)[0] for h in answer.headers.get("set-cookie", [])
                                if h.startswith("qrl_session=")), "")
                me = await self._call("GET", "/api/me", {"Cookie": session})
                if me is None or me.status != 200:
                    self._error(f"me {me.status if me else ''}")
                await self._call("POST", "/api/logout", {"Cookie": session, "Content-Type": "application/json"},
                                 b"{}")

    async def phones(self) -> None:
        """People scanning and confirming, at a steady pace, all day."""
        response = await self._call("POST", "/api/mp/login", {"Content-Type": "application/json"},
                                    b'{"code": "dev:soak"}')
        auth = {"Authorization": f"Bearer {response.json()['token']}"}
        while time.monotonic() < self.deadline:
            await asyncio.sleep(1 / LOGINS_PER_SECOND)
            if not self.open_codes:
                continue
            tid = random.choice(list(self.open_codes))
            for action in ("scan", "confirm"):
                answer = await self._call("POST", f"/api/mp/tickets/{tid}/{action}", auth)
                # A code that expired or was renewed a moment ago is refused with 4xx: that is the page's race, not an error.
                if answer is None or answer.status >= 500:
                    self._error(f"{action} {answer.status if answer else ''}")
                if answer is None or answer.status != 200:
                    break


async def soak(url: str, seconds: float, workdir: Path, log) -> dict:
    # Codes live 120 s as in production; a short run shortens them so renewals happen.
    ttl = 120 if seconds >= 600 else max(10, int(seconds // 4))
    env = {"POLL_MAX_WAIT_SECONDS": str(POLL_WAIT), "TICKET_TTL_SECONDS": str(ttl)}
    with LiveServer(url, workers=2, env=env, log_path=workdir / "soak.log") as server:
        start = time.monotonic()
        office = Office(server.port, start + seconds)
        tasks = [asyncio.create_task(office.page(i)) for i in range(PAGES)]
        tasks.append(asyncio.create_task(office.phones()))
        samples = []
        while time.monotonic() < start + seconds:
            await asyncio.sleep(min(10, seconds / 20))
            samples.append((time.monotonic() - start, server.rss_bytes()))
            log(f"  soak {samples[-1][0]:.0f} s: RSS {samples[-1][1] / 2**20:.0f} MB, logins {office.logins}, "
                f"errors {sum(office.errors.values())}")
        await asyncio.wait_for(asyncio.gather(*tasks), POLL_WAIT + 40)
        unhandled = server.log().count("unhandled error")
    # Memory "at start": once every page has arrived and polled (the first tenth of the run).
    settled = next((rss for t, rss in samples if t >= seconds / 10), samples[0][1])
    return {"seconds": seconds, "ttl": ttl, "pages": PAGES, "logins": office.logins, "renewals": office.renewals,
            "polls": office.polls, "rss_start_mb": settled / 2**20, "rss_end_mb": samples[-1][1] / 2**20,
            "errors": sum(office.errors.values()) + unhandled,
            "error_kinds": ", ".join(f"{k} x{n}" for k, n in office.errors.items())}
