"""The real server: gunicorn with gunicorn.conf.py, several workers, real HTTP."""
import signal
import threading
import time

import pytest
import requests

from bench.live_server import LiveServer, migrate


@pytest.fixture
def served_database(database_url):
    migrate(database_url)  # already current; proves `flask db upgrade` is idempotent on it
    return database_url


@pytest.fixture
def server(served_database, tmp_path):
    with LiveServer(served_database, workers=2, log_path=tmp_path / "gunicorn.log") as live:
        yield live


class Browser:
    def __init__(self, base):
        self.base = base
        self.http = requests.Session()

    def create(self):
        response = self.http.post(self.base + "/api/tickets", timeout=5)
        assert response.status_code == 201
        return response.json()["ticket_id"]

    def poll(self, ticket_id, **params):
        return self.http.get(f"{self.base}/api/tickets/{ticket_id}", params=params, timeout=40)


def mp_login(base, name):
    response = requests.post(base + "/api/mp/login", json={"code": f"dev:{name}"}, timeout=5)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def hold_polls(browser, ticket_ids, since="pending", wait=20):
    """Start one waiting poll per ticket; returns threads and (status, took) results."""
    results = {}

    def run(tid):
        started = time.monotonic()
        try:
            response = browser.poll(tid, wait=wait, since=since)
            results[tid] = (response.status_code, response.json().get("status"), time.monotonic() - started)
        except requests.RequestException as exc:
            results[tid] = (None, type(exc).__name__, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(tid,), daemon=True) for tid in ticket_ids]
    for t in threads:
        t.start()
    return threads, results


def test_scans_wake_polls_waiting_in_every_worker(server):
    browser = Browser(server.url)
    ticket_ids = [browser.create() for _ in range(40)]
    threads, results = hold_polls(browser, ticket_ids)
    time.sleep(1)  # let all polls reach a worker and wait
    headers = mp_login(server.url, "ivy")
    for tid in ticket_ids:
        assert requests.post(f"{server.url}/api/mp/tickets/{tid}/scan", headers=headers, timeout=5).status_code == 200
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 40
    assert all(code == 200 and status == "scanned" for code, status, _ in results.values())
    assert max(took for _, _, took in results.values()) < 10  # far from the 20 s wait


def test_confirm_in_one_worker_logs_in_a_poll_waiting_in_another(server):
    browser = Browser(server.url)
    ticket_id = browser.create()
    headers = mp_login(server.url, "jay")
    requests.post(f"{server.url}/api/mp/tickets/{ticket_id}/scan", headers=headers, timeout=5)
    # New connections spread over both workers; several phones' requests cover both.
    threads, results = hold_polls(browser, [ticket_id], since="scanned")
    time.sleep(0.5)
    for _ in range(3):
        requests.get(server.url + "/api/me", timeout=5)
    assert requests.post(f"{server.url}/api/mp/tickets/{ticket_id}/confirm", headers=headers,
                         timeout=5).status_code == 200
    threads[0].join(timeout=30)
    assert results[ticket_id][:2] == (200, "confirmed")
    me = browser.http.get(server.url + "/api/me", timeout=5)
    assert me.status_code == 200 and me.json()["user"]["nickname"] == "jay"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stopping_or_reloading_answers_waiting_polls(server, sig):
    """On SIGTERM (stop) or SIGHUP (graceful worker recycle) waiting polls get their status, not a cut."""
    browser = Browser(server.url)
    ticket_ids = [browser.create() for _ in range(10)]
    threads, results = hold_polls(browser, ticket_ids, wait=20)
    time.sleep(1)
    server.signal(sig)
    for t in threads:
        t.join(timeout=30)
    assert all(code == 200 and status == "pending" for code, status, _ in results.values()), results
    assert max(took for _, _, took in results.values()) < 15  # answered, not held to the 20 s wait
    if sig == signal.SIGHUP:  # new workers carry on with the same tickets
        time.sleep(1)
        assert browser.poll(ticket_ids[0]).json()["status"] == "pending"
