"""Operations: health checks, metrics and request logs."""
import json
import logging
import os
import subprocess
import sys
import textwrap

import sqlalchemy as sa
from flask_migrate import downgrade

from app import create_app
from app.extensions import db
from app.logs import TextFormatter

from .support.apps import in_thread, serve, wait_until
from .support.assertions import log_in, sample
from .support.fake_wechat import SECRET

# --- health -------------------------------------------------------------------


def test_healthz_says_the_process_is_up(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_readyz_is_not_ready_until_migrations_are_applied(app):
    with app.app_context():
        downgrade(revision="0001")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"
    assert "flask db upgrade" in response.get_json()["error"]["message"]


def test_readyz_stays_ready_when_a_newer_release_migrated_the_database(app):
    # Rolling deploy: the new code upgraded the schema while this older worker still serves.
    with app.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed0099'"))
        db.session.commit()
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_is_not_ready_without_its_database(config, tmp_path):
    for app in serve(create_app({**config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/db.sqlite3"})):
        response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "The database is unreachable."


# --- metrics ------------------------------------------------------------------

def scrape(app, **kwargs):
    return app.test_client().get("/metrics", **kwargs)


def test_metrics_count_a_whole_login(app, browser, phone):
    names = ["qrlogin_tickets_created_total", "qrlogin_scans_total", "qrlogin_confirms_total"]
    before = {n: sample(n) for n in names}
    consumed = sample("qrlogin_tickets_finished_total", outcome="consumed")
    pc_logins = sample("qrlogin_logins_total", kind="pc")
    log_in(browser, phone)
    assert {n: sample(n) - before[n] for n in names} == {n: 1 for n in names}
    assert sample("qrlogin_tickets_finished_total", outcome="consumed") == consumed + 1
    assert sample("qrlogin_logins_total", kind="pc") == pc_logins + 1


def test_metrics_count_expired_and_cancelled_tickets(app, browser, phone, clock):
    expired = sample("qrlogin_tickets_finished_total", outcome="expired")
    cancelled = sample("qrlogin_tickets_finished_total", outcome="cancelled")
    old = browser.post("/api/tickets").get_json()["ticket_id"]
    clock.advance(121)
    browser.get(f"/api/tickets/{old}")
    declined = browser.post("/api/tickets").get_json()["ticket_id"]
    phone.scan(declined)
    phone.cancel(declined)
    assert sample("qrlogin_tickets_finished_total", outcome="expired") == expired + 1
    assert sample("qrlogin_tickets_finished_total", outcome="cancelled") == cancelled + 1


def test_metrics_show_waiting_polls_and_how_fast_they_wake(app, browser, ticket, phone):
    woken = sample("qrlogin_wake_latency_seconds_count")
    waiting = sample("qrlogin_waiting_polls")
    thread, result = in_thread(browser.get, f"/api/tickets/{ticket['ticket_id']}?wait=20&since=pending")
    assert wait_until(lambda: sample("qrlogin_waiting_polls") == waiting + 1)
    phone.scan(ticket["ticket_id"])
    thread.join(timeout=10)
    assert result["value"].get_json()["status"] == "scanned"
    assert sample("qrlogin_waiting_polls") == waiting
    assert sample("qrlogin_wake_latency_seconds_count") == woken + 1


def test_metrics_count_wechat_calls_by_endpoint_and_result(app, wechat):
    ok = sample("qrlogin_wechat_calls_total", endpoint="jscode2session", result="ok")
    used = sample("qrlogin_wechat_calls_total", endpoint="jscode2session", result="errcode_40163")
    app.test_client().post("/api/mp/login", json={"code": "ok-erin"})
    app.test_client().post("/api/mp/login", json={"code": "err-40163"})
    assert sample("qrlogin_wechat_calls_total", endpoint="jscode2session", result="ok") == ok + 1
    assert sample("qrlogin_wechat_calls_total", endpoint="jscode2session", result="errcode_40163") == used + 1


def test_metrics_are_prometheus_text_for_a_local_scraper(app, browser, ticket):
    response = scrape(app)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE qrlogin_tickets_created_total counter" in text
    assert "qrlogin_waiting_polls" in text


def test_metrics_are_refused_to_other_addresses(app):
    response = scrape(app, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_metrics_are_refused_through_a_local_proxy_not_configured_as_such(app):
    # nginx on the same box makes every visitor 127.0.0.1; its X-Forwarded-For gives it away.
    response = scrape(app, headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 403


def test_metrics_token_lets_a_remote_scraper_in(config):
    for app in serve(create_app({**config, "METRICS_TOKEN": "s3cret-scrape-token", "METRICS_ALLOW_IPS": ""})):
        remote = {"REMOTE_ADDR": "203.0.113.7"}

        def with_token(token):
            return scrape(app, environ_base=remote, headers={"Authorization": f"Bearer {token}"}).status_code

        assert with_token("s3cret-scrape-token") == 200
        assert with_token("wrong") == 403
        assert scrape(app).status_code == 403  # no address is trusted any more


def test_metrics_add_up_all_workers_in_multiprocess_mode(config, tmp_path):
    # Two worker processes under gunicorn: each writes its values to PROMETHEUS_MULTIPROC_DIR.
    worker = textwrap.dedent(f"""
        from app import create_app
        app = create_app({{"TESTING": True, "SQLALCHEMY_DATABASE_URI": {config["SQLALCHEMY_DATABASE_URI"]!r}}})
        client = app.test_client()
        assert client.post("/api/tickets").status_code == 201
        print(client.get("/metrics").get_data(as_text=True))
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    outputs = [subprocess.run([sys.executable, "-c", worker], env=env, capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.dirname(__file__))).stdout for _ in range(2)]
    assert "qrlogin_tickets_created_total 1.0" in outputs[0]
    assert "qrlogin_tickets_created_total 2.0" in outputs[1]


# --- request logs -------------------------------------------------------------

def request_lines(lines):
    parsed = [json.loads(line) for line in lines]
    return [entry for entry in parsed if entry["logger"] == "app.requests"]


def test_each_request_is_one_json_line_with_a_short_ticket_id(app, browser, log_lines):
    ticket = browser.post("/api/tickets").get_json()
    response = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    lines = log_lines()
    entries = request_lines(lines)
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 201), ("GET", 200)]
    poll = entries[1]
    assert poll["path"] == f"/api/tickets/{ticket['ticket_id'][:6]}..."
    assert poll["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(poll["duration_ms"], float)
    assert ticket["ticket_id"] not in "\n".join(lines)


def test_request_id_is_taken_from_the_proxy_when_well_formed(app, log_lines):
    client = app.test_client()
    given = client.get("/healthz", headers={"X-Request-ID": "edge-4f2a9c1b"})
    invalid = client.get("/healthz", headers={"X-Request-ID": "bad id\" injected"})
    assert given.headers["X-Request-ID"] == "edge-4f2a9c1b"
    assert invalid.headers["X-Request-ID"] != "bad id\" injected"
    assert [e["request_id"] for e in request_lines(log_lines())] == [
        "edge-4f2a9c1b", invalid.headers["X-Request-ID"]]


def test_wechat_failures_are_logged_with_the_request_id_and_no_secrets(app, wechat, log_lines):
    response = app.test_client().post("/api/mp/login", json={"code": "err-40029"})
    lines = [json.loads(line) for line in log_lines()]
    [failure] = [e for e in lines if e["logger"] == "app.wechat"]
    assert "errcode=40029" in failure["msg"]
    assert failure["request_id"] == response.headers["X-Request-ID"]
    assert SECRET not in json.dumps(lines) and "session-key" not in json.dumps(lines)


def test_text_logs_for_development(config):
    for app in serve(create_app({**config, "LOG_FORMAT": "text"})):
        handler = next(h for h in logging.getLogger("app").handlers if getattr(h, "qrlogin", False))
        assert isinstance(handler.formatter, TextFormatter)
