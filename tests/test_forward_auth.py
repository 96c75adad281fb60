"""GET /auth/verify as a reverse proxy asks it, the settings behind it, and the login page's `rd`."""
import re

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from app import create_app, protected_sites, users
from app.config import ConfigError
from app.extensions import db
from app.models import LoginSession, User

from .support.apps import serve
from .support.assertions import assert_error, log_in
from .support.phone import Phone

BASE = "https://login.corp.example"
SITES = {
    "PUBLIC_BASE_URL": BASE,
    "SESSION_COOKIE_DOMAIN": ".corp.example",
    "FORWARD_AUTH_HOSTS": "wiki.corp.example, .tools.corp.example",
    "FORWARD_AUTH_RULES": "wiki.corp.example/admin = admins",
}


@pytest.fixture
def app(config):
    yield from serve(create_app({**config, **SITES}))


class SiteClient(FlaskClient):
    """A browser on the login page's https address."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", BASE)
        return super().open(*args, **kwargs)


@pytest.fixture
def browser(app):
    app.test_client_class = SiteClient
    return app.test_client()


def verify(client, url="https://wiki.corp.example/page?x=1", mode=None, method="GET", **headers):
    """The subrequest nginx sends (X-Original-URL), or Caddy's (X-Forwarded-*) with mode="redirect"."""
    if mode == "redirect":
        proto, rest = url.split("://", 1)
        host, _, uri = rest.partition("/")
        headers = {"X-Forwarded-Proto": proto, "X-Forwarded-Host": host, "X-Forwarded-Uri": "/" + uri,
                   "X-Forwarded-Method": method, **headers}
        return client.get("/auth/verify?mode=redirect", headers=headers)
    return client.get("/auth/verify", headers={"X-Original-URL": url, "X-Original-Method": method, **headers})


def login_url(rd):
    from urllib.parse import quote

    return f"{BASE}/login?rd={quote(rd, safe='')}"


# --- who gets in ---------------------------------------------------------------

def test_a_logged_in_person_is_let_in_with_who_they_are(app, browser, phone):
    log_in(browser, phone)
    response = verify(browser)
    assert response.status_code == 200
    remote_user = response.headers["Remote-User"]
    assert remote_user == phone.user["id"] and remote_user.startswith("u_")  # the public id, never the openid
    assert response.headers["Remote-Name"] == ""  # no nickname set yet: sent, but empty
    assert response.headers["Remote-Groups"] == "" and response.headers["Remote-Phone"] == ""
    assert "no-store" in response.headers["Cache-Control"]
    # The same person is the same Remote-User on every site and every request.
    assert verify(browser, "https://a.tools.corp.example/").headers["Remote-User"] == remote_user


def test_a_chinese_nickname_reaches_the_site_as_utf8(browser, phone):
    phone.set_profile(nickname="小明")
    log_in(browser, phone)
    value = verify(browser).headers["Remote-Name"]
    assert value.encode("latin-1").decode("utf-8") == "小明"


def test_caddy_and_traefik_headers_name_the_original_request(browser, phone):
    log_in(browser, phone)
    assert verify(browser, "https://b.tools.corp.example/dash", mode="redirect").status_code == 200


def test_without_a_session_nginx_gets_401_with_the_login_page_to_send_the_browser_to(browser):
    response = verify(browser, "https://wiki.corp.example/page?x=1&y=%20")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["Location"] == login_url("https://wiki.corp.example/page?x=1&y=%20")


@pytest.mark.parametrize("method, accept, status", [
    ("GET", "text/html,application/xhtml+xml,*/*;q=0.8", 302),
    ("HEAD", "*/*", 302),
    ("POST", "text/html", 401),
    ("GET", "application/json", 401),
])
def test_in_redirect_mode_only_page_loads_are_redirected(browser, method, accept, status):
    response = verify(browser, "https://wiki.corp.example/x", mode="redirect", method=method, Accept=accept)
    assert response.status_code == status
    assert response.headers["Location"] == login_url("https://wiki.corp.example/x")


def test_a_script_asking_for_json_gets_401_not_a_redirect(browser):
    response = verify(browser, mode="redirect", **{"X-Requested-With": "XMLHttpRequest"})
    assert_error(response, 401, "not_authenticated")


def test_a_person_outside_the_rules_group_is_turned_away_with_a_page(browser, phone):
    phone.set_profile(nickname="Alice")
    log_in(browser, phone)
    assert verify(browser, "https://wiki.corp.example/help").status_code == 200
    page = verify(browser, "https://wiki.corp.example/admin/users", Accept="text/html")
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert "Alice" in page.text and "wiki.corp.example" in page.text
    assert "Remote-User" not in page.headers
    assert_error(verify(browser, "https://wiki.corp.example/admin", Accept="application/json"), 403, "access_denied")


def member_of(app, public_id, *groups):
    with app.app_context():
        for group in groups:
            users.add_entry("user", public_id, group)
        db.session.commit()


def the_user(app, phone):
    with app.app_context():
        return db.session.scalar(sa.select(User).where(User.public_id == phone.user["id"]))


def test_a_member_of_the_rules_group_enters_and_the_site_learns_the_groups(app, browser, phone):
    log_in(browser, phone)
    member_of(app, phone.user["id"], "ops", "admins")
    response = verify(browser, "https://wiki.corp.example/admin/users")
    assert response.status_code == 200
    assert response.headers["Remote-Groups"] == "admins,ops"


def test_a_verified_phone_number_reaches_the_site(app, browser, phone):
    log_in(browser, phone)
    with app.app_context():
        users.set_verified_phone(db.session.merge(the_user(app, phone)), "+8613800000000")
        db.session.commit()
    assert verify(browser).headers["Remote-Phone"] == "+8613800000000"


def test_blocking_someone_locks_them_out_of_every_site_at_once(app, browser, phone):
    log_in(browser, phone)
    assert verify(browser).status_code == 200
    with app.app_context():
        users.block(db.session.merge(the_user(app, phone)))
        db.session.commit()
    assert verify(browser).status_code == 401
    assert verify(browser, "https://a.tools.corp.example/").status_code == 401


@pytest.mark.parametrize("path", ["/admin", "/admin/", "/%61dmin", "/x/../admin", "//admin/x", "/admin%2Fusers"])
def test_a_rule_holds_however_the_path_is_spelled(browser, phone, path):
    log_in(browser, phone)
    assert verify(browser, "https://wiki.corp.example" + path, Accept="application/json").status_code == 403


def test_a_host_the_service_does_not_protect_is_refused(browser, phone):
    log_in(browser, phone)
    assert_error(verify(browser, "https://evil.test/"), 403, "host_not_protected")
    assert_error(verify(browser, "https://tools.corp.example/"), 403, "host_not_protected")


@pytest.mark.parametrize("headers", [{}, {"X-Original-URL": "not a url"}, {"X-Forwarded-Uri": "/x"}])
def test_a_proxy_that_sends_no_original_url_is_told_how(browser, headers):
    response = browser.get("/auth/verify", headers=headers)
    assert_error(response, 400, "invalid_request")
    assert "X-Original-URL" in response.get_json()["error"]["message"]


# --- logging out ends access everywhere ------------------------------------------

def test_logout_locks_every_protected_site_at_its_next_request(browser, phone):
    log_in(browser, phone)
    assert verify(browser).status_code == 200
    assert browser.post("/api/logout", json={}).status_code == 200
    assert verify(browser).status_code == 401
    assert verify(browser, "https://a.tools.corp.example/").status_code == 401


def test_log_out_this_pc_on_the_phone_locks_the_sites(browser, phone):
    log_in(browser, phone)
    [session] = phone.client.get("/api/mp/sessions", headers=phone.headers()).get_json()["sessions"]
    assert phone.client.delete(f"/api/mp/sessions/{session['id']}", headers=phone.headers()).status_code == 200
    assert verify(browser).status_code == 401


def test_the_logout_page_offers_one_button_for_every_site(browser, phone):
    log_in(browser, phone)
    assert 'id="logout"' in browser.get("/logout").text
    browser.post("/api/logout", json={})
    assert 'id="logged-out"' in browser.get("/logout").text


# --- the verify path writes at most once a minute per session --------------------

def test_verifying_refreshes_last_seen_at_most_once_a_minute(app, browser, phone, clock):
    log_in(browser, phone)

    def last_seen():
        with app.app_context():
            return db.session.scalar(sa.select(LoginSession.last_seen_at))

    first = last_seen()
    clock.advance(30)
    assert verify(browser).status_code == 200
    assert last_seen() == first
    clock.advance(31)
    assert verify(browser).status_code == 200
    assert (last_seen() - first).total_seconds() >= 61


@pytest.fixture
def statements(app):
    """The SQL statements the app sends while the test runs, as their first words."""
    sent = []

    def record(conn, cursor, statement, *args):
        sent.append(statement.split(None, 1)[0].upper())

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", record)


def test_a_check_is_a_few_reads_and_writes_only_when_last_seen_is_a_minute_old(browser, phone, clock, statements):
    log_in(browser, phone)
    statements.clear()
    assert verify(browser).status_code == 200
    assert set(statements) <= {"SELECT"} and len(statements) <= 4  # the session and its user, groups, access
    clock.advance(61)
    statements.clear()
    assert verify(browser).status_code == 200
    assert statements.count("UPDATE") == 1 and set(statements) <= {"SELECT", "UPDATE"}


# --- the login cookie reaches the protected hosts ----------------------------------

def test_the_login_cookie_covers_the_parent_domain_with_the_secure_prefix(app, browser, phone):
    cookie = log_in(browser, phone).headers["Set-Cookie"]
    assert cookie.startswith("__Secure-qrl_session=")
    assert "Domain=corp.example" in cookie or "Domain=.corp.example" in cookie
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    cleared = browser.post("/api/logout", json={}).headers["Set-Cookie"]
    assert cleared.startswith("__Secure-qrl_session=;") and "corp.example" in cleared


def test_the_login_cookie_stays_host_only_by_default(config, fake_wechat):
    app = create_app({**config, "PUBLIC_BASE_URL": BASE})
    app.test_client_class = SiteClient
    browser = app.test_client()
    cookie = log_in(browser, Phone(app.test_client(), "ok-hana").login()).headers["Set-Cookie"]
    assert cookie.startswith("__Host-qrl_session=") and "Domain" not in cookie


# --- after the scan: back to the protected site, never anywhere else ------------------

def next_url(browser, query):
    page = browser.get("/login?" + query).text
    return re.search(r'data-next="([^"]*)"', page).group(1).replace("&amp;", "&")


@pytest.mark.parametrize("rd", [
    "https://wiki.corp.example/page?x=1",
    "https://a.tools.corp.example/",
    "http://wiki.corp.example:8080/x",
])
def test_rd_to_a_protected_site_is_honoured(browser, rd):
    from urllib.parse import quote

    assert next_url(browser, "rd=" + quote(rd, safe="")) == rd


@pytest.mark.parametrize("rd", [
    "https://evil.test/",
    "//wiki.corp.example/",
    "https://wiki.corp.example.evil.test/",
    "https://wiki.corp.example@evil.test/",
    "https://evil.test#@wiki.corp.example",
    "https://evil.test\\@wiki.corp.example",
    "https:\\\\evil.test",
    "https:/wiki.corp.example",
    "javascript:alert(document.cookie)//wiki.corp.example",
    "java\tscript://wiki.corp.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://tools.corp.example/",
    "https://wiki.corp.example./",
    "ftp://wiki.corp.example/",
    " https://wiki.corp.example/",
])
def test_rd_anywhere_else_lands_on_the_home_page(browser, rd):
    from urllib.parse import quote

    assert next_url(browser, "rd=" + quote(rd, safe="")) == "/"


def test_a_local_next_still_works(browser):
    assert next_url(browser, "next=/somewhere") == "/somewhere"


# --- settings: checked at start-up, one line per mistake ----------------------------

@pytest.fixture
def settings():
    """Only the start-up checks run: no database is opened."""
    return {"TESTING": True, "SECRET_KEY": "test-secret-key", "SQLALCHEMY_DATABASE_URI": "sqlite://"}


def start(config, **settings):
    return create_app({**config, **SITES, **settings})


@pytest.mark.parametrize("changes, line", [
    ({"FORWARD_AUTH_HOSTS": "https://wiki.corp.example"}, "FORWARD_AUTH_HOSTS: 'https://wiki.corp.example' is not a host name"),
    ({"FORWARD_AUTH_HOSTS": ".example"}, "FORWARD_AUTH_HOSTS: '.example' would cover a whole top-level domain"),
    ({"FORWARD_AUTH_RULES": "wiki.corp.example admins"}, "FORWARD_AUTH_RULES: 'wiki.corp.example admins' must look like"),
    ({"FORWARD_AUTH_RULES": "grafana.other.example = ops"}, "FORWARD_AUTH_RULES: 'grafana.other.example' is not one of FORWARD_AUTH_HOSTS"),
    ({"FORWARD_AUTH_RULES": "wiki.corp.example/a/../b = ops"}, "is not a plain path prefix"),
    ({"FORWARD_AUTH_RULES": "wiki.corp.example = ops team"}, "'ops team' is not a group name"),
    ({"FORWARD_AUTH_RULES": "wiki.corp.example = *, ops"}, "'*' (anyone allowed in) cannot be combined with groups"),
    ({"FORWARD_AUTH_RULES": "wiki.corp.example = a; wiki.corp.example/ = b"}, "FORWARD_AUTH_RULES rule 2: a second rule"),
    ({"SESSION_COOKIE_DOMAIN": None}, "FORWARD_AUTH_HOSTS needs SESSION_COOKIE_DOMAIN"),
    ({"SESSION_COOKIE_DOMAIN": ".tools.corp.example", "FORWARD_AUTH_HOSTS": ".tools.corp.example",
      "FORWARD_AUTH_RULES": ""}, "does not cover PUBLIC_BASE_URL's host login.corp.example"),
    ({"SESSION_COOKIE_DOMAIN": ".com"}, "SESSION_COOKIE_DOMAIN must be a parent domain"),
    ({"PUBLIC_BASE_URL": None}, "FORWARD_AUTH_HOSTS needs PUBLIC_BASE_URL"),
    ({"FORWARD_AUTH_HOSTS": ".corp.example", "FORWARD_AUTH_RULES": ""}, "the login page cannot sit behind itself"),
    ({"FORWARD_AUTH_HOSTS": "", "FORWARD_AUTH_RULES": "wiki.corp.example = ops"}, "FORWARD_AUTH_HOSTS is empty"),
])
def test_a_mistake_in_the_settings_stops_the_start_with_one_line(settings, changes, line):
    with pytest.raises(ConfigError) as info:
        start(settings, **changes)
    assert line in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_every_mistake_is_named_at_once(settings):
    with pytest.raises(ConfigError) as info:
        start(settings, FORWARD_AUTH_RULES="nope.example = a; wiki.corp.example = b c; wiki.corp.example/x = d")
    assert str(info.value).splitlines() == [
        "FORWARD_AUTH_RULES rule 1: 'nope.example' is not one of FORWARD_AUTH_HOSTS (wiki.corp.example, .tools.corp.example)",
        "FORWARD_AUTH_RULES rule 2: 'b c' is not a group name (letters, digits, '_', '.', '-')",
    ]


def test_rules_can_live_in_a_file(settings, tmp_path):
    rules = tmp_path / "rules.txt"
    rules.write_text("# who may enter what\nwiki.corp.example = staff\n\nwiki.corp.example/public = *  # everyone\n")
    app = start(settings, FORWARD_AUTH_RULES="", FORWARD_AUTH_RULES_FILE=str(rules))
    sites = app.config["PROTECTED_SITES"]
    assert sites.groups_for("wiki.corp.example", "/page") == ("staff",)
    assert sites.groups_for("wiki.corp.example", "/public/faq") == ()
    rules.write_text("wiki.corp.example = staff\nwiki.corp.example/x = a b\n")
    with pytest.raises(ConfigError, match=re.escape(f"{rules} line 2: 'a b' is not a group name")):
        start(settings, FORWARD_AUTH_RULES="", FORWARD_AUTH_RULES_FILE=str(rules))
    with pytest.raises(ConfigError, match="FORWARD_AUTH_RULES_FILE: cannot read .*missing.txt"):
        start(settings, FORWARD_AUTH_RULES="", FORWARD_AUTH_RULES_FILE=str(tmp_path / "missing.txt"))


# --- which rule decides (no database needed) -----------------------------------------

RULES = protected_sites.load(
    ".corp.example, wiki.other.example",
    "wiki.other.example = staff; wiki.other.example/admin = admins; wiki.other.example/admin/help = *;"
    ".corp.example = staff; .ops.corp.example = ops; grafana.ops.corp.example = ops, admins",
)


@pytest.mark.parametrize("host, path, groups", [
    ("wiki.other.example", "/", ("staff",)),
    ("wiki.other.example", "/admin", ("admins",)),
    ("wiki.other.example", "/administrator", ("staff",)),
    ("wiki.other.example", "/admin/help/x", ()),
    ("x.corp.example", "/", ("staff",)),
    ("x.ops.corp.example", "/", ("ops",)),
    ("grafana.ops.corp.example", "/d", ("admins", "ops")),
    ("corp.example", "/", ()),  # not protected at all: verify refuses it before asking
])
def test_the_most_specific_host_then_the_longest_path_decides(host, path, groups):
    assert RULES.groups_for(host, path) == groups
    assert RULES.protects(host) == (host != "corp.example")


# --- whatever a proxy or client puts in the headers: a clear answer, never a crash or a foreign Location ----

_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=80)
_URLISH = st.one_of(_HEADER_TEXT, st.builds(lambda a, b: a + b, st.sampled_from(
    ["https://wiki.corp.example", "http://x.tools.corp.example:8080", "https://evil.test", "//", "javascript:"]),
    _HEADER_TEXT))


def test_any_original_url_gets_a_clear_answer_and_only_our_login_page_as_location(app):
    client = app.test_client()

    @given(url=_URLISH, host=_HEADER_TEXT, uri=_HEADER_TEXT, method=_HEADER_TEXT, mode=st.sampled_from(["", "redirect"]))
    @examples(max_examples=150, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def check(url, host, uri, method, mode):
        headers = {"X-Original-URL": url, "X-Original-Method": method} if url else {
            "X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "X-Forwarded-Method": method}
        response = client.get(f"/auth/verify?mode={mode}", headers=headers)
        assert response.status_code in (302, 400, 401, 403)
        if "Location" in response.headers:
            assert response.headers["Location"].startswith(BASE + "/login?rd=")

    check()
