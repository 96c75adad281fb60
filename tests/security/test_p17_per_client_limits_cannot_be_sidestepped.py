"""Property 17: per-client limits cannot be sidestepped. IPv6 clients are counted per /64 (one
subscriber holds the whole /64), the caps on open codes count scanned ones too, open codes are
counted per browser first with a far higher per-address ceiling (an office of a few hundred behind
one NAT is never refused), and a ticket can be long-polled by only a few requests at once: the
next one gets 429 with Retry-After instead of another held request."""
import pytest

from app import create_app
from app.config import from_env

from ..support.apps import NO_LIMITS, in_thread, serve, wait_until
from ..support.assertions import assert_error
from ..support.phone import Phone


@pytest.fixture
def make_app(config):
    """Apps with every limit off except the ones a test names; stopped afterwards."""
    apps = []

    def make(**overrides):
        apps.append(serve(create_app({**config, **NO_LIMITS, **overrides})))
        return next(apps[-1])

    yield make
    for app in apps:
        next(app, None)


def create(client, ip="127.0.0.1"):
    return client.post("/api/tickets", environ_base={"REMOTE_ADDR": ip})


def assert_429(response, code):
    assert_error(response, 429, code)
    assert int(response.headers["Retry-After"]) >= 1


def test_property_17_ipv6_addresses_of_one_64_share_one_allowance(make_app):
    app = make_app(TICKET_RATE_LIMIT_PER_ADDRESS="3/minute", MAX_OPEN_TICKETS_PER_ADDRESS=0)
    for host in ("::1", "::2", "::3"):
        assert create(app.test_client(), ip=f"2001:db8:1:2{host}").status_code == 201
    assert_429(create(app.test_client(), ip="2001:db8:1:2:ffff:ffff:ffff:ffff"), "rate_limited")
    assert create(app.test_client(), ip="2001:db8:1:3::1").status_code == 201  # the next /64 is someone else


def test_property_17_open_codes_of_one_64_are_capped_together(make_app):
    app = make_app(MAX_OPEN_TICKETS_PER_ADDRESS=2)
    assert create(app.test_client(), ip="2001:db8:9:9::a").status_code == 201
    assert create(app.test_client(), ip="2001:db8:9:9::b").status_code == 201
    assert_429(create(app.test_client(), ip="2001:db8:9:9::c"), "too_many_pending_tickets")


def test_property_17_open_codes_are_capped_per_browser_scanned_ones_included(make_app):
    app = make_app(MAX_OPEN_TICKETS_PER_BROWSER=2, MAX_OPEN_TICKETS_PER_ADDRESS=100)
    browser = app.test_client()
    first = create(browser).get_json()["ticket_id"]
    assert create(browser).status_code == 201
    Phone(app.test_client(), "ok-jun").login().scan(first)  # scanned: still open
    assert_429(create(browser), "too_many_open_tickets")
    assert create(app.test_client()).status_code == 201  # a colleague's browser behind the same address


def test_property_17_an_office_behind_one_address_is_not_refused(app):
    defaults = from_env({})
    assert defaults["MAX_OPEN_TICKETS_PER_ADDRESS"] >= 300
    # Sixty colleagues open the login page from one NAT address, each with a code and a renewal.
    for _ in range(60):
        browser = app.test_client()
        assert create(browser, ip="203.0.113.80").status_code == 201
        assert create(browser, ip="203.0.113.80").status_code == 201


def test_property_17_a_ticket_holds_only_a_few_polls_at_once(make_app):
    app = make_app(MAX_WAITING_POLLS_PER_TICKET=3)
    browser = app.test_client()
    ticket_id = create(browser).get_json()["ticket_id"]
    url = f"/api/tickets/{ticket_id}?wait=20&since=pending"
    cookie = browser.get_cookie("qrl_bind").value
    clients = []
    for _ in range(3):
        client = app.test_client()
        client.set_cookie("qrl_bind", cookie)
        clients.append(client)
    held = [in_thread(client.get, url) for client in clients]
    assert wait_until(lambda: held_on(app, ticket_id) == 3)
    assert_429(browser.get(url), "too_many_waiting_polls")
    assert browser.get(f"/api/tickets/{ticket_id}").status_code == 200  # a plain read still answers
    Phone(app.test_client(), "ok-jun").login().scan(ticket_id)
    for thread, result in held:
        thread.join(timeout=20)
        assert result["value"].get_json()["status"] == "scanned"
    assert wait_until(lambda: held_on(app, ticket_id) == 0)


def held_on(app, ticket_id):
    held = app.extensions.get("qrlogin_held_polls")
    return held.counts.get(ticket_id, 0) if held else 0
