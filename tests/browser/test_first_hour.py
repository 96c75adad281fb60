"""A team's first hour, in a real browser: the tryout without a phone, refusals that say what
happened, and the phone page in the reader's language."""
import json
import re

import pytest
from playwright.sync_api import expect

from app.pc.i18n import TEXT

from .conftest import SCREENSHOTS


def words(lang, key, **values):
    return TEXT[lang][key].format(**values)


def problem(lang, code, **values):
    """The status line for a refusal: what happened, then when the page asks again."""
    said = re.escape(TEXT[lang]["errors"][code].format(**values))
    return re.compile(said + " " + re.escape(TEXT[lang]["retry_in"]).replace(re.escape("{s}"), r"\d+"))


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_too_many_open_codes_is_explained_not_blamed_on_the_network(start_live_server, open_login_page, lang):
    server = start_live_server(MAX_OPEN_TICKETS_PER_BROWSER="1")
    first = open_login_page(server, "desktop", lang)
    expect(first.status).to_have_text(words(lang, "pending", app=TEXT[lang]["app_wechat"]))

    second = first.page.context.new_page()  # a second tab of the same browser
    with second.expect_response(lambda r: r.url.endswith("/api/tickets")) as refused:
        second.goto("/login")
    assert refused.value.status == 429
    status = second.locator("#qrl-status")
    expect(status).to_have_text(problem(lang, "too_many_open_tickets"))
    expect(status).to_have_class(re.compile(r"\bproblem\b"))
    second.screenshot(path=SCREENSHOTS / f"refused-too-many-codes-desktop-{lang}.png")


@pytest.mark.parametrize("status, body, code", [
    (500, {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}, "internal_error"),
    (503, {"error": {"code": "not_ready", "message": "The service is not ready."}}, "not_ready"),
    (429, {"error": {"code": "rate_limited", "message": "Too many requests"}}, "rate_limited"),
    (429, {"error": {"code": "too_many_pending_tickets", "message": "Too many"}}, "too_many_pending_tickets"),
    (502, "<html>Bad Gateway</html>", "server"),  # a proxy's page, no JSON
])
def test_each_server_error_says_what_happened(live_server, open_login_page, status, body, code):
    login = open_login_page(live_server, "desktop", "zh-CN")
    page = login.page
    content_type = "application/json" if isinstance(body, dict) else "text/html"
    page.route("**/api/tickets", lambda route: route.fulfill(
        status=status, body=json.dumps(body) if isinstance(body, dict) else body, content_type=content_type,
        headers={"Retry-After": "3"}))
    page.reload()
    expect(login.status).to_have_text(problem("zh-CN", code, status=status))


def test_a_lost_connection_still_says_so(live_server, open_login_page):
    login = open_login_page(live_server, "desktop", "zh-TW")
    login.page.route("**/api/tickets", lambda route: route.abort("internetdisconnected"))
    login.page.reload()
    offline = re.escape(TEXT["zh-TW"]["offline"]).replace(re.escape("{s}"), r"\d+")
    expect(login.status).to_have_text(re.compile(offline))


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory, fake_wechat):
    """The service as `make run` starts it: development sign-in, no WeChat."""
    from ..support.live import LiveServer

    workdir = tmp_path_factory.mktemp("dev")
    server = LiveServer(f"sqlite:///{workdir / 'dev.sqlite3'}", env={"WECHAT_APPID": "", "WECHAT_SECRET": ""},
                        log_path=workdir / "gunicorn.log").migrate().start()
    yield server
    server.stop()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_tryout_without_a_phone_from_the_link_under_the_qr(dev_server, open_login_page, lang):
    login = open_login_page(dev_server, "desktop", lang)
    expect(login.status).to_have_text(words(lang, "pending", app=TEXT[lang]["app_camera"]))
    link = login.page.locator("#qrl-phone-link")
    expect(link).to_have_text(words(lang, "dev_phone_link"))
    expect(link).to_have_attribute("href", login.ticket["qr_content"])
    login.screenshot("dev-pending")

    with login.page.context.expect_page() as opened:
        link.click()
    phone = opened.value
    phone.wait_for_load_state()  # its script is listening before anyone types
    phone.set_viewport_size({"width": 390, "height": 844})
    expect(phone.locator(".muted")).to_have_text(words(lang, "phone_dev_hint"))
    phone.locator("#name").fill("Ming")
    phone.locator("#signin button").click()
    # Where the login happens, readable: "Chrome 1xx on Linux", not the raw User-Agent.
    on = re.escape(TEXT[lang]["phone_browser_on"]).replace(re.escape("{browser}"), r"Chrome \d+")
    expect(phone.locator("#pc-ua")).to_have_text(re.compile("^" + on.replace(re.escape("{system}"), "Linux") + "$"))
    expect(login.status).to_have_text(words(lang, "scanned", name="Ming"))
    phone.screenshot(path=SCREENSHOTS / f"dev-phone-approve-{lang}.png")

    phone.locator("#confirm").click()
    expect(phone.locator("#result")).to_have_text(words(lang, "phone_done"))
    expect(login.page).to_have_url(dev_server.url + "/")
    expect(login.page.locator("#welcome")).to_have_text(words(lang, "welcome", name="Ming"))

    # The same code opened again says it was used, instead of offering to sign in.
    phone.reload()
    expect(phone.locator("#finished")).to_have_text(TEXT[lang]["phone_states"]["consumed"])
    expect(phone.locator("#signin")).to_have_count(0)
    phone.screenshot(path=SCREENSHOTS / f"dev-phone-used-{lang}.png")


def test_dev_phone_page_explains_a_taken_code_in_the_readers_language(dev_server, open_login_page):
    login = open_login_page(dev_server, "desktop", "zh-TW")
    phone_url = login.ticket["qr_content"]
    context = login.page.context
    pages = []
    for name in ("First", "Second"):  # two people, one after the other, open the same code
        page = context.browser.new_context(locale="zh-TW", base_url=dev_server.url).new_page()
        pages.append(page)
        page.goto(phone_url)
        page.locator("#name").fill(name)
        page.locator("#signin button").click()
        if name == "First":
            expect(page.locator("#approve")).to_be_visible()
    expect(pages[1].locator("#result")).to_have_text(TEXT["zh-TW"]["phone_errors"]["ticket_taken"])
    for page in pages:
        page.context.close()
