"""A tiny asyncio HTTP/1.1 client: enough to hold thousands of long-polls from one process."""
import asyncio
import json
import time


class Response:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


async def request(host: str, port: int, method: str, path: str, *, headers=None, body: bytes = b"",
                  conn=None, timeout: float = 60) -> tuple[Response, tuple]:
    """Send one request; reuses `conn` (reader, writer) when given. Returns (response, conn)."""
    if conn is None:
        conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    reader, writer = conn
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    response = await asyncio.wait_for(_read_response(reader), timeout)
    return response, conn


async def _read_response(reader) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
    length = int(headers.get("content-length", ["0"])[0])
    body = await reader.readexactly(length) if length else b""
    return Response(status, headers, body)


def close(conn) -> None:
    if conn is not None:
        conn[1].close()


def percentile(values, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


async def settle(server, timeout: float = 90) -> None:
    """Return once the server has taken in the held polls: under 5% CPU for a second."""
    deadline = time.perf_counter() + timeout
    previous = server.cpu_seconds()
    while time.perf_counter() < deadline:
        await asyncio.sleep(1)
        now = server.cpu_seconds()
        if now - previous < 0.05:
            return
        previous = now
