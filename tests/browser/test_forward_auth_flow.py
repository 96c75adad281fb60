"""A person opens an internal tool behind nginx, Caddy or Traefik, scans, and is in: the whole way in Chromium.

The test host names (login.corp.test, wiki/tool/dash.corp.test, evil.test) all lead
to 127.0.0.1 through Chromium's --host-resolver-rules, so cookies and redirects behave as
they do between real hosts.
"""
import json
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from app.pc.i18n import TEXT

from ..support.live import LivePhone
from ..support.proxies import proxies, proxy, service, site, who  # noqa: F401  (fixtures)
from .conftest import CHROMIUM, CHROMIUM_ARGS

RESOLVE = "MAP *.corp.test 127.0.0.1, MAP evil.test 127.0.0.1"


@pytest.fixture(scope="module")
def named_hosts_browser(playwright):
    # HTTPS upgrades would try https:// first on these plain-http test hosts.
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, f"--host-resolver-rules={RESOLVE}", "--disable-features=HttpsUpgrades"])
    yield browser
    browser.close()


@pytest.fixture
def page(named_hosts_browser):
    context = named_hosts_browser.new_context(locale="en-US")
    yield context.new_page()
    context.close()


def scan_on_the_login_page(page, service, open_page, name, nickname):
    """Open a URL that ends on the QR page, then scan and confirm it with a phone."""
    created = lambda r: r.url.endswith("/api/tickets") and r.request.method == "POST"  # noqa: E731
    with page.expect_response(created) as info:
        open_page()
    expect(page).to_have_url(re.compile(re.escape(service.public_url + "/login?rd=")))
    ticket = info.value.json()["ticket_id"]
    phone = LivePhone(service, name).login()
    assert phone.set_profile(nickname=nickname).status_code == 200
    assert phone.scan(ticket).status_code == 200
    assert phone.confirm(ticket).status_code == 200
    return phone


def echoed(page) -> dict:
    """What the protected site received, as it shows it."""
    return json.loads(page.locator("body").inner_text())


def test_scan_to_enter_a_protected_site_and_the_phone_locks_it_again(service, proxy, page):
    wanted = proxy.url("/docs/page?q=1")
    phone = scan_on_the_login_page(page, service, lambda: page.goto(wanted), f"flow-{proxy.kind}", "Alice")

    expect(page).to_have_url(wanted)  # back where the person wanted to go
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "qrl_session")
    seen = echoed(page)
    assert seen["path"] == "/docs/page?q=1"
    assert seen["headers"]["Remote-User"] == [phone.user["id"]] == [who(service, session)]
    assert seen["headers"]["Remote-Name"] == ["Alice"]

    [pc] = phone.client.get("/api/mp/sessions", headers=phone.headers()).json()["sessions"]
    assert phone.client.delete(f"/api/mp/sessions/{pc['id']}", headers=phone.headers()).status_code == 200
    page.reload()
    expect(page).to_have_url(service.public_url + "/login?rd=" + quote(wanted, safe=""))


def test_someone_outside_the_group_sees_why_they_cannot_enter(service, proxy, page):
    scan_on_the_login_page(page, service, lambda: page.goto(proxy.url("/")), f"flow-outsider-{proxy.kind}", "Olga")
    expect(page).to_have_url(proxy.url("/"))
    answer = page.goto(proxy.url("/admin"))
    assert answer.status == 403
    expect(page.locator("#denied")).to_have_text(TEXT["en"]["denied_title"])
    expect(page.locator(".muted")).to_contain_text(proxy.host)


def test_rd_to_a_foreign_host_lands_on_the_home_page(service, proxies, page):
    foreign = f"http://evil.test:{proxies['nginx'].port}/steal"
    scan_on_the_login_page(page, service, lambda: page.goto(f"{service.public_url}/login?rd={quote(foreign, safe='')}"),
                           "flow-foreign", "Fred")
    expect(page).to_have_url(service.public_url + "/")
    expect(page.locator("#welcome")).to_have_text(TEXT["en"]["welcome"].format(name="Fred"))


def test_the_logout_page_ends_access_to_every_site_at_once(service, proxies, page):
    scan_on_the_login_page(page, service, lambda: page.goto(proxies["nginx"].url("/")), "flow-leaver", "Lea")
    expect(page).to_have_url(proxies["nginx"].url("/"))
    for proxy in proxies.values():  # one scan opened all of them
        page.goto(proxy.url("/x"))
        assert echoed(page)["headers"]["Remote-Name"] == ["Lea"]

    page.goto(service.public_url + "/logout")
    page.locator("#logout").click()
    expect(page.locator("#logged-out")).to_have_text(TEXT["en"]["logged_out"])
    assert not [c for c in page.context.cookies() if c["name"] == "qrl_session"]  # gone for every host
    for proxy in proxies.values():
        page.goto(proxy.url("/x"))
        expect(page).to_have_url(service.public_url + "/login?rd=" + quote(proxy.url("/x"), safe=""))
