"""The HTML pages a person sees."""
import pytest

from .support.assertions import log_in


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
    html = dev_app.test_client().get("/qr/SomeTicketIdAAAAAAAAAA").get_data(as_text=True)
    assert "phone.js" in html and 'id="signin"' in html


def test_phone_page_with_wechat_points_to_the_mini_program(browser):
    html = browser.get("/qr/SomeTicketIdAAAAAAAAAA").get_data(as_text=True)
    assert "phone.js" not in html
    assert "mini-program" in html
