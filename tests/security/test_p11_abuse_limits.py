"""Property 11: abuse limits. Ticket creation is rate-limited per client IP, open (pending or
scanned) tickets per IP are capped, polling faster than allowed gets 429 + Retry-After (RFC 8628 5.5's
slow_down), counters can live in Redis so every worker shares them, and X-Forwarded-For is only
believed for the configured number of proxies. Stops flooding the ticket table, QR farming for
QRLJacking and brute polling."""
import os
import threading
import uuid

import pytest
import redis

from app import create_app
from app.config import ConfigError, from_env

from ..support.apps import NO_LIMITS
from ..support.assertions import assert_error

REDIS_URI = "redis://127.0.0.1:6379/4"  # this suite's own Redis database number


def make_app(config, **overrides):
    return create_app({**config, **NO_LIMITS, **overrides})


def create(client, ip="127.0.0.1", **kwargs):
    return client.post("/api/tickets", environ_base={"REMOTE_ADDR": ip}, **kwargs)


def assert_429(response, code):
    assert_error(response, 429, code)
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"


def test_property_11_safe_limits_are_on_by_default():
    config = from_env({"APP_ENV": "development"})
    # Per browser first; per address far higher, for an office of a few hundred behind one NAT.
    assert config["TICKET_RATE_LIMIT"] == "20/minute"
    assert config["TICKET_RATE_LIMIT_PER_ADDRESS"] == "600/minute"
    assert config["MAX_OPEN_TICKETS_PER_BROWSER"] == 10
    assert config["MAX_OPEN_TICKETS_PER_ADDRESS"] == 1000
    assert config["POLL_RATE_LIMIT"] == "120/minute"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["PROXY_FIX_HOPS"] == 0


def test_property_11_a_nonsense_rate_is_refused_at_start(config):
    with pytest.raises(ConfigError):
        create_app({**config, "TICKET_RATE_LIMIT": "lots"})


def test_property_11_ticket_creation_is_rate_limited_per_ip(config):
    app = make_app(config, TICKET_RATE_LIMIT_PER_ADDRESS="3/minute")
    for _ in range(3):  # fresh cookie jars: dropping cookies does not reset the count
        assert create(app.test_client()).status_code == 201
    assert_429(create(app.test_client()), "rate_limited")
    # Another address has its own allowance.
    assert create(app.test_client(), ip="192.0.2.1").status_code == 201


def test_property_11_pending_tickets_per_ip_are_capped(config, clock):
    app = make_app(config, MAX_OPEN_TICKETS_PER_ADDRESS=3)
    made = [create(app.test_client()).get_json()["ticket_id"] for _ in range(3)]
    assert all(made)
    assert_429(create(app.test_client()), "too_many_pending_tickets")
    assert create(app.test_client(), ip="192.0.2.1").status_code == 201
    # A scanned code is still open (it can be confirmed); a decided one is not...
    from ..support.phone import Phone

    phone = Phone(app.test_client(), "ok-jun").login()
    phone.scan(made[0])
    assert_429(create(app.test_client()), "too_many_pending_tickets")
    phone.cancel(made[0])
    assert create(app.test_client()).status_code == 201
    assert_429(create(app.test_client()), "too_many_pending_tickets")
    # ...and expired codes do not count, even before anything marks them expired.
    clock.advance(app.config["TICKET_TTL_SECONDS"] + 1)
    assert create(app.test_client()).status_code == 201


def test_property_11_pending_cap_holds_under_concurrent_creation(config):
    app = make_app(config, MAX_OPEN_TICKETS_PER_ADDRESS=5)
    statuses, barrier = [], threading.Barrier(12)

    def run():
        client = app.test_client()
        barrier.wait()
        statuses.append(create(client).status_code)

    threads = [threading.Thread(target=run) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 5 + [429] * 7


def test_property_11_polling_too_fast_gets_slow_down_with_retry_after(config):
    app = make_app(config, POLL_RATE_LIMIT="5/minute")
    browser = app.test_client()
    ticket_id = create(browser).get_json()["ticket_id"]
    for _ in range(5):
        assert browser.get(f"/api/tickets/{ticket_id}").status_code == 200
    assert_429(browser.get(f"/api/tickets/{ticket_id}"), "slow_down")
    # The limit is per ticket: the browser's other login code still answers.
    other = create(browser).get_json()["ticket_id"]
    assert browser.get(f"/api/tickets/{other}").status_code == 200


def test_property_11_a_stranger_cannot_use_up_the_real_browsers_polls(config):
    app = make_app(config, POLL_RATE_LIMIT="5/minute")
    browser, stranger = app.test_client(), app.test_client()
    ticket_id = create(browser).get_json()["ticket_id"]
    for _ in range(5):
        assert stranger.get(f"/api/tickets/{ticket_id}").status_code == 403
    assert_429(stranger.get(f"/api/tickets/{ticket_id}"), "slow_down")
    assert browser.get(f"/api/tickets/{ticket_id}").status_code == 200


def test_property_11_default_poll_limit_leaves_room_for_the_login_page(app, browser, ticket):
    # The login page long-polls with wait=25 (a few requests a minute); even a page
    # re-polling once a second for a whole minute stays within the default.
    for _ in range(60):
        assert browser.get(f"/api/tickets/{ticket['ticket_id']}").status_code == 200


def test_property_11_forwarded_for_is_ignored_without_proxy_hops(config):
    app = make_app(config, TICKET_RATE_LIMIT_PER_ADDRESS="3/minute")
    client = app.test_client()
    for n in range(3):
        created = create(client, headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert created.status_code == 201
    assert_429(create(client, headers={"X-Forwarded-For": "198.51.100.99"}), "rate_limited")
    phone_view = _scan_info(app, create(app.test_client(), ip="10.1.1.1",
                                        headers={"X-Forwarded-For": "198.51.100.7"}))
    assert phone_view["ip"] == "10.1.1.1"


def test_property_11_with_one_hop_only_the_proxys_entry_counts(config):
    app = make_app(config, TICKET_RATE_LIMIT_PER_ADDRESS="3/minute", PROXY_FIX_HOPS=1)
    client = app.test_client()
    for n in range(3):
        # The client forges the left part; our proxy appended the right-most address.
        forged = {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.5"}
        assert create(client, ip="10.0.0.2", headers=forged).status_code == 201
    assert_429(create(client, ip="10.0.0.2", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.5"}), "rate_limited")
    # Another real client behind the same proxy has its own allowance and is seen as itself.
    other = create(app.test_client(), ip="10.0.0.2", headers={"X-Forwarded-For": "203.0.113.6"})
    assert other.status_code == 201
    assert _scan_info(app, other)["ip"] == "203.0.113.6"


def _scan_info(app, created):
    from ..support.phone import Phone

    phone = Phone(app.test_client(), "ok-kim").login()
    return phone.scan(created.get_json()["ticket_id"]).get_json()["pc"]


@pytest.fixture
def redis_uri():
    try:
        redis.Redis.from_url(REDIS_URI, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI at {REDIS_URI}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URI}")
    return REDIS_URI


def test_property_11_limits_are_shared_by_workers_through_redis(config, redis_uri):
    # Two apps stand for two workers (or machines); a fresh prefix keeps runs apart.
    shared = {"TICKET_RATE_LIMIT_PER_ADDRESS": "3/minute", "RATELIMIT_STORAGE_URI": redis_uri,
              "RATELIMIT_KEY_PREFIX": "qrlogin-test-" + uuid.uuid4().hex}
    worker_a, worker_b = make_app(config, **shared), make_app(config, **shared)
    assert create(worker_a.test_client()).status_code == 201
    assert create(worker_b.test_client()).status_code == 201
    assert create(worker_a.test_client()).status_code == 201
    assert_429(create(worker_b.test_client()), "rate_limited")
    client = redis.Redis.from_url(redis_uri)
    assert list(client.scan_iter(match="*" + shared["RATELIMIT_KEY_PREFIX"] + "*"))
