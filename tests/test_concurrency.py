"""Races: many threads behind a barrier, each transition has exactly one winner."""
import threading

import sqlalchemy as sa

from app.extensions import db
from app.models import LoginSession

from .support.phone import Phone

N = 8


def race(fn, n=N):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_concurrent_confirms_have_one_winner(app, browser, ticket):
    phone = Phone(app.test_client(), "ok-racer").login()
    phone.scan(ticket["ticket_id"])
    statuses = race(lambda i: phone_for(app, phone).confirm(ticket["ticket_id"]).status_code)
    assert statuses.count(200) == 1
    assert statuses.count(409) == N - 1


def phone_for(app, phone):
    clone = Phone(app.test_client(), phone.code)
    clone.token = phone.token
    return clone


def test_concurrent_scans_by_different_users_have_one_winner(app, ticket):
    phones = [Phone(app.test_client(), f"ok-user{i}").login() for i in range(N)]
    statuses = race(lambda i: phones[i].scan(ticket["ticket_id"]).status_code)
    assert statuses.count(200) == 1
    assert statuses.count(409) == N - 1


def test_concurrent_polls_after_confirm_yield_one_session(app, browser, ticket, phone):
    phone.scan(ticket["ticket_id"])
    phone.confirm(ticket["ticket_id"])
    cookie = browser.get_cookie("qrl_bind").value

    def poll(i):
        client = app.test_client()
        client.set_cookie("qrl_bind", cookie)
        response = client.get(f"/api/tickets/{ticket['ticket_id']}")
        return response.get_json()["status"], "qrl_session=" in response.headers.get("Set-Cookie", "")

    results = race(poll)
    assert results.count(("confirmed", True)) == 1
    assert results.count(("consumed", False)) == N - 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 1


def test_concurrent_confirm_and_cancel_have_one_winner(app, ticket, phone):
    phone.scan(ticket["ticket_id"])
    actions = ["confirm", "cancel"] * (N // 2)
    results = race(lambda i: phone_for(app, phone).post(ticket["ticket_id"], actions[i]).get_json())
    winners = [r for r in results if "status" in r]
    assert len(winners) == 1
