"""Property 23: the browser binding is always one the server issued. A binding cookie the server
did not sign (planted by someone who wants to poll this browser's tickets: cookie fixation) is
replaced by a fresh one and never binds a ticket; under https the cookie has the __Host- prefix
(no subdomain can set it)."""
from app import create_app

from ..support.apps import serve
from ..support.assertions import cookie_value

PLANTED = "attacker-knows-this-value"


def test_property_23_a_planted_binding_is_replaced(app, browser, phone):
    browser.set_cookie("qrl_bind", PLANTED)
    created = browser.post("/api/tickets")
    issued = cookie_value(created, "qrl_bind")
    assert issued and PLANTED not in issued
    ticket_id = created.get_json()["ticket_id"]
    attacker = app.test_client()
    attacker.set_cookie("qrl_bind", PLANTED)
    assert attacker.get(f"/api/tickets/{ticket_id}").status_code == 403
    assert browser.get(f"/api/tickets/{ticket_id}").status_code == 200


def test_property_23_a_binding_signed_with_another_key_is_replaced(config, browser):
    for other in serve(create_app({**config, "SECRET_KEY": "some-other-deployment-key"})):
        foreign = cookie_value(other.test_client().post("/api/tickets"), "qrl_bind")
    browser.set_cookie("qrl_bind", foreign)
    issued = cookie_value(browser.post("/api/tickets"), "qrl_bind")
    assert issued and issued != foreign


def test_property_23_the_servers_own_binding_is_kept_across_tabs(browser):
    first = cookie_value(browser.post("/api/tickets"), "qrl_bind")
    assert cookie_value(browser.post("/api/tickets"), "qrl_bind") == first


def test_property_23_under_https_the_binding_has_the_host_prefix(config):
    for app in serve(create_app({**config, "PUBLIC_BASE_URL": "https://login.example.com"})):
        created = app.test_client().post("/api/tickets", base_url="https://login.example.com")
        header = next(h for h in created.headers.getlist("Set-Cookie") if "qrl_bind" in h)
        assert header.startswith("__Host-qrl_bind=")
        assert "Secure" in header and "Path=/" in header and "Domain" not in header
