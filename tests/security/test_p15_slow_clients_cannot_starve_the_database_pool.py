"""Property 15: slow clients cannot starve the database pool. Every body is read (bounded in size
and time) before the token check or any query, so clients that send their headers and then trickle
the body hold only their own greenlet, never a pooled connection: everyone else's requests get
their normal answers, and the slow clients get 408 once BODY_TIMEOUT_SECONDS passes. Tried with
the real server (gunicorn, gevent) and more slow sockets than one worker's pool has connections."""
import json
import socket

import pytest
import requests

from bench.live_server import LiveServer

# One worker's pool holds at most 30 connections (PostgreSQL: 10 + 20 overflow; SQLite: 15).
SLOW_CLIENTS = 40


@pytest.fixture
def server(database_url, tmp_path):
    with LiveServer(database_url, workers=1, env={"BODY_TIMEOUT_SECONDS": "3"},
                    log_path=tmp_path / "gunicorn.log") as live:
        yield live


def trickling(server, token) -> socket.socket:
    """A client that sends its headers and the first byte of a 100-byte body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall((
        "POST /api/mp/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    ).encode())
    return sock


def answer_of(sock) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_property_15_slow_bodies_leave_everyone_else_served(server):
    login = requests.post(server.url + "/api/mp/login", json={"code": "dev:slow"}, timeout=10).json()
    slow = [trickling(server, login["token"]) for _ in range(SLOW_CLIENTS)]
    try:
        # Every slow client is inside the worker before the others ask (a readiness wait, not a clock).
        requests.get(server.url + "/healthz", timeout=10)
        bearer = {"Authorization": f"Bearer {login['token']}"}
        assert requests.post(server.url + "/api/tickets", timeout=10).status_code == 201
        assert requests.get(server.url + "/api/me", timeout=10).json()["error"]["code"] == "not_authenticated"
        assert requests.get(server.url + "/readyz", timeout=10).status_code == 200
        assert requests.get(server.url + "/api/mp/me", headers=bearer, timeout=10).json()["user"]["nickname"] == "slow"
        # The slow clients themselves are told, in the one error shape, and the connection is closed.
        status, body = answer_of(slow[0])
        assert status == 408 and body["error"]["code"] == "body_timeout"
    finally:
        for sock in slow:
            sock.close()
