"""Apache with mod_auth_openidc (a certified relying party) protects a page; a person reaches it by the scan."""
import re

import pytest
from playwright.sync_api import expect

from ..oidc.relying_parties import Apache, add_client


@pytest.fixture
def apache():
    servers = []

    def start(issuer, *client_args):
        server = Apache(issuer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_apache_lets_the_person_in_after_the_scan(start_live_server, apache, chromium, make_phone, tmp_path):
    service = start_live_server(AUTHLIB_INSECURE_TRANSPORT="1", OIDC_KEYS_FILE=tmp_path / "keys.json")
    site = apache(service.url)
    client = add_client(service, "--name", "Team wiki", "--redirect-uri", site.redirect_uri)
    site.configure(client["client_id"], client["client_secret"]).start()

    context = chromium.new_context(locale="en-US")
    try:
        page = context.new_page()
        creates = lambda r: r.url.endswith("/api/tickets") and r.request.method == "POST"  # noqa: E731
        with page.expect_response(creates) as created:
            page.goto(site.url + "/protected/")
        ticket_id = created.value.json()["ticket_id"]
        assert page.url.startswith(service.url + "/login?authorize=")
        expect(page.locator("#qrl-app")).to_have_text("Log in to Team wiki")

        phone = make_phone(service, "apache-visitor", nickname="Alice")
        scanned = phone.scan(ticket_id)
        assert scanned.status_code == 200 and scanned.json()["app"]["name"] == "Team wiki"
        assert phone.confirm(ticket_id).status_code == 200

        expect(page).to_have_url(site.url + "/protected/", timeout=15_000)
        expect(page.locator("#sub")).to_have_text(re.compile(r"^sub=u_[A-Za-z0-9_-]{20}$"))
        expect(page.locator("#name")).to_have_text("name=Alice")
    finally:
        context.close()
