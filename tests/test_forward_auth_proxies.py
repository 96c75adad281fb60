"""nginx, Caddy and Traefik, configured exactly as the README says, guarding a site with scan-to-login.

The service runs as deployed (gunicorn); the proxies and the site are real processes on
loopback ports. A "browser" here is a cookie: the one the service sets after a scan.
"""
import re
from urllib.parse import quote

import pytest
import requests

from .support.live import LivePhone
from .support.proxies import (  # noqa: F401  (fixtures)
    IDENTITY, TEMPLATES, log_in, proxies, proxy, put_in_group, service, site, who)

def visit(proxy, path="/", session=None, method="GET", headers=None):
    """A browser's request to the protected host, through the proxy."""
    cookie = {"Cookie": f"qrl_session={session}"} if session else {}
    return requests.request(method, f"http://127.0.0.1:{proxy.port}{path}", allow_redirects=False, timeout=10,
                            headers={"Host": f"{proxy.host}:{proxy.port}", "Accept": "text/html", **cookie,
                                     **(headers or {})})


def test_without_logging_in_the_browser_is_sent_to_the_qr_page_and_the_site_sees_nothing(service, site, proxy):
    before = len(site.requests)
    response = visit(proxy, "/docs/page?q=1")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"{service.public_url}/login?rd={quote(proxy.url('/docs/page?q=1'), safe='')}")
    assert len(site.requests) == before


def test_after_the_scan_the_site_learns_who_it_is(service, site, proxy, fake_wechat):
    phone = LivePhone(service, f"{proxy.kind}-alice").login()
    assert phone.set_profile(nickname="小明").status_code == 200
    session = log_in(service, phone)
    response = visit(proxy, "/docs", session)
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert seen["Remote-User"] == [phone.user["id"]] == [who(service, session)]
    assert seen["Remote-Name"] == ["小明"]
    assert seen["Remote-Groups"] in ([], [""]) and seen["Remote-Phone"] in ([], [""])
    other = log_in(service, LivePhone(service, f"{proxy.kind}-bob").login())
    assert visit(proxy, "/docs", other).json()["headers"]["Remote-User"] != seen["Remote-User"]


def test_remote_headers_the_client_sends_never_reach_the_site(service, site, proxy):
    forged = {"Remote-User": "admin", "Remote-Name": "Boss", "Remote-Groups": "admins",
              "Remote-Phone": "+8613800000000"}
    before = len(site.requests)
    assert visit(proxy, "/docs", headers=forged).status_code == 302  # no session: forging gets nowhere
    assert len(site.requests) == before

    phone = LivePhone(service, f"{proxy.kind}-mallory").login()
    phone.set_profile(nickname="Mallory")
    session = log_in(service, phone)
    seen = visit(proxy, "/docs", session, headers=forged).json()["headers"]
    assert seen["Remote-User"] == [who(service, session)]
    assert seen["Remote-Name"] == ["Mallory"]
    assert seen["Remote-Groups"] in ([], [""]) and seen["Remote-Phone"] in ([], [""])
    # Nor do they open a path kept for a group.
    assert visit(proxy, "/admin", session, headers=forged).status_code == 403


def test_look_alike_names_cannot_pass_as_remote_headers_either(service, proxy):
    """Remote_User reaches a WSGI, CGI or PHP site as HTTP_REMOTE_USER, the same as Remote-User."""
    session = log_in(service, LivePhone(service, f"{proxy.kind}-trudy").login())
    forged = {"Remote_User": "admin", "Remote_Groups": "admins", "Remote_Phone": "+8613800000000"}
    seen = visit(proxy, "/docs", session, headers=forged).json()["cgi"]
    assert seen["Remote-User"] == [who(service, session)]
    assert seen["Remote-Groups"] in ([], [""]) and seen["Remote-Phone"] in ([], [""])


def test_someone_outside_the_rules_group_is_refused_and_the_site_sees_nothing(service, site, proxy):
    session = log_in(service, LivePhone(service, f"{proxy.kind}-carol").login())
    assert visit(proxy, "/docs", session).status_code == 200
    before = len(site.requests)
    assert visit(proxy, "/admin/users", session).status_code == 403
    assert visit(proxy, "/%61dmin/users", session).status_code == 403
    assert len(site.requests) == before


def test_a_member_of_the_rules_group_enters_and_the_site_learns_the_groups(service, proxy):
    phone = LivePhone(service, f"{proxy.kind}-erin").login()
    session = log_in(service, phone)
    assert visit(proxy, "/admin/users", session).status_code == 403
    put_in_group(service, phone.user["id"], "admins")
    response = visit(proxy, "/admin/users", session)
    assert response.status_code == 200
    assert response.json()["headers"]["Remote-User"] == [phone.user["id"]]
    assert response.json()["headers"]["Remote-Groups"] == ["admins"]


def test_logging_out_on_the_phone_locks_the_pc_out_at_its_next_request(service, proxy):
    phone = LivePhone(service, f"{proxy.kind}-dave").login()
    session = log_in(service, phone)
    assert visit(proxy, "/docs", session).status_code == 200
    [pc] = phone.client.get("/api/mp/sessions", headers=phone.headers()).json()["sessions"]
    assert phone.client.delete(f"/api/mp/sessions/{pc['id']}", headers=phone.headers()).status_code == 200
    response = visit(proxy, "/docs", session)
    assert response.status_code == 302 and response.headers["Location"].startswith(service.public_url + "/login?rd=")


def test_a_form_post_without_a_session_is_refused(service, site, proxy):
    before = len(site.requests)
    response = visit(proxy, "/docs", method="POST")
    # nginx turns every 401 into the redirect; Caddy and Traefik redirect page loads only.
    assert response.status_code == {"nginx": 302, "caddy": 401, "traefik": 401}[proxy.kind]
    assert len(site.requests) == before


# --- the README shows exactly the tested text --------------------------------------

@pytest.mark.parametrize("name", ["nginx.conf", "Caddyfile", "traefik.yml"])
def test_the_readme_shows_each_proxy_configuration_as_tested(name):
    readme = (TEMPLATES.parent.parent / "README.md").read_text()
    text = (TEMPLATES / name).read_text()
    assert f"\n{text}```\n" in readme, f"README.md must show deploy/forward-auth/{name} verbatim"


def test_the_remote_headers_are_those_the_proxies_copy():
    for name in ("nginx.conf", "Caddyfile", "traefik.yml"):
        text = (TEMPLATES / name).read_text()
        assert all(header in text for header in IDENTITY), name
