"""The HTML pages a person sees."""
import json
import re

import pytest

from app import create_app, errors
from app.i18n import ERROR_MESSAGES
from app.pc.i18n import TEXT

from .support.apps import serve
from .support.assertions import log_in
from .support.phone import Phone


def page_words(html: str) -> dict:
    """The words the page's script shows, as the page hands them over."""
    found = re.search(r'<script id="qrl-text" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def new_ticket(client) -> dict:
    response = client.post("/api/tickets")
    assert response.status_code == 201
    return response.get_json()


def test_login_page_shows_the_qr_area_and_loads_its_script(browser):
    response = browser.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="qrl-qr"' in html and "login.js" in html
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_login_page_speaks_chinese_when_asked(browser):
    html = browser.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "扫码登录" in html


@pytest.mark.parametrize(
    "next_value, expected",
    [
        ("/dashboard?tab=1", "/dashboard?tab=1"),
        ("https://evil.example.com/", "/"),
        ("//evil.example.com/", "/"),
        ("/\\evil.example.com", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_login_page_only_goes_on_to_local_paths(browser, next_value, expected):
    html = browser.get("/login", query_string={"next": next_value}).get_data(as_text=True)
    assert f'data-next="{expected}"' in html


def test_home_page_shows_who_is_logged_in(browser, phone):
    assert "Log in" in browser.get("/").get_data(as_text=True)
    phone.set_profile(nickname="Alice")
    log_in(browser, phone)
    html = browser.get("/").get_data(as_text=True)
    assert "Welcome, Alice" in html and 'id="logout"' in html


def test_phone_page_in_dev_mode_offers_sign_in(dev_app):
    ticket = new_ticket(dev_app.test_client())
    html = dev_app.test_client().get(f"/qr/{ticket['ticket_id']}").get_data(as_text=True)
    assert "phone.js" in html and 'id="signin"' in html


def test_phone_page_with_wechat_points_to_wechat(browser):
    ticket = new_ticket(browser)
    html = browser.get(f"/qr/{ticket['ticket_id']}").get_data(as_text=True)
    assert "phone.js" not in html
    assert "Open WeChat and scan this code there to log in." in html


# --- a code opened again on the phone says what became of it ------------------------

@pytest.mark.parametrize("lang, ending, expected", [
    ("en", "confirm", "This code has already been used to log in."),
    ("zh-CN", "confirm", "此二维码已用于登录"),
    ("en", "cancel", "This login was cancelled. Refresh the login page on the computer for a new code."),
    ("zh-HK", "cancel", "此次登入已取消。請在電腦上重新整理登入頁面取得新條碼。"),
])
def test_a_used_or_cancelled_code_reopened_on_the_phone_says_so(dev_app, lang, ending, expected):
    browser, phone = dev_app.test_client(), Phone(dev_app.test_client(), "dev:Reopener").login()
    ticket_id = new_ticket(browser)["ticket_id"]
    assert phone.scan(ticket_id).status_code == 200
    assert phone.post(ticket_id, ending).status_code == 200
    html = phone.client.get(f"/qr/{ticket_id}", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert expected in html
    assert 'id="signin"' not in html and "phone.js" not in html


def test_an_expired_or_unknown_code_on_the_phone_says_so(dev_app, clock):
    client = dev_app.test_client()
    ticket_id = new_ticket(client)["ticket_id"]
    clock.advance(seconds=dev_app.config["TICKET_TTL_SECONDS"] + 1)
    assert "This code has expired. Refresh the login page on the computer." in client.get(f"/qr/{ticket_id}").text
    assert "This is not a login code of this service." in client.get("/qr/NoSuchTicketAAAAAAAAAA").text


# --- languages ------------------------------------------------------------------

@pytest.mark.parametrize("accept, heading", [
    ("zh-CN,zh;q=0.9", "扫码登录"), ("zh", "扫码登录"), ("zh-TW", "掃碼登入"), ("zh-HK,en;q=0.5", "掃碼登入"),
    ("zh-Hant", "掃碼登入"), ("en-GB,zh;q=0.5", "Scan to log in"), ("fr", "Scan to log in"), (None, "Scan to log in"),
])
def test_pages_speak_the_readers_language(browser, accept, heading):
    headers = {"Accept-Language": accept} if accept else {}
    assert f"<h1>{heading}</h1>" in browser.get("/login", headers=headers).text


@pytest.mark.parametrize("accept, message", [
    ("zh-CN", "没有这个登录二维码。"), ("zh-TW", "沒有這個登入條碼。"), ("en", "No such login code."),
])
def test_api_errors_speak_the_readers_language_and_keep_their_code(browser, accept, message):
    response = browser.get("/api/tickets/NoSuchTicketAAAAAAAAAA", headers={"Accept-Language": accept})
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "ticket_not_found", "message": message}}


def test_every_error_a_person_can_meet_is_translated():
    codes = {cls.code for cls in all_subclasses(errors.ApiError)}
    for lang in ("zh-CN", "zh-TW"):
        assert codes <= set(ERROR_MESSAGES[lang]), codes - set(ERROR_MESSAGES[lang])
    for lang in ("zh-CN", "zh-TW"):
        assert set(TEXT[lang]) == set(TEXT["en"])
        for key in ("errors", "phone_states", "phone_errors"):
            assert set(TEXT[lang][key]) == set(TEXT["en"][key])


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


# --- the company's look ------------------------------------------------------------

@pytest.fixture
def branded(config):
    yield from serve(create_app({**config, "SITE_NAME": "Acme", "LOGO_URL": "https://cdn.example.com/acme.png",
                                 "ACCENT_COLOR": "#E4002B", "SCAN_APP_NAME": "Acme Work",
                                 "MINIPROGRAM_LINK": "https://wxaurl.cn/acme"}))


def test_the_page_wears_the_companys_name_logo_colour_and_app(branded):
    client = branded.test_client()
    html = client.get("/login", headers={"Accept-Language": "zh-CN"}).text
    assert "<title>登录Acme</title>" in html and "<h1>Acme</h1>" in html
    assert 'src="https://cdn.example.com/acme.png"' in html
    assert page_words(html)["pending"] == "请使用Acme Work扫一扫登录"
    assert 'href="https://wxaurl.cn/acme"' in html  # offered where the code cannot be scanned
    css = client.get("/brand.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "--accent: #e4002b;" in css.text


def test_without_branding_the_page_asks_for_a_wechat_scan(browser):
    html = browser.get("/login", headers={"Accept-Language": "zh-CN"}).text
    assert page_words(html)["pending"] == "请使用微信扫一扫登录"
    assert "qrl-phone-link" not in html  # the development shortcut only exists in development
    assert "--accent: #07c160;" in browser.get("/brand.css").text


def test_development_page_links_to_the_phone_page(dev_app):
    html = dev_app.test_client().get("/login").text
    assert 'id="qrl-phone-link"' in html
    assert page_words(html)["pending"] == "Scan with your phone's camera to log in"


def test_a_favicon_is_served(browser):
    for path in ("/favicon.ico", "/static/favicon.svg"):
        response = browser.get(path)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert 'rel="icon"' in browser.get("/login").text
