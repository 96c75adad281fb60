"""Property 22: whoever scans first cannot paint the PC page. Nicknames lose bidi controls and
zero-width characters and are capped in characters and display width; avatar URLs must be https
on WeChat's image hosts (or AVATAR_HOSTS, the service's own storage) and the page may load images
from nowhere else; the PC can drop a scanned code ("not you? get a new code"), which cancels it
for good, and get a fresh one."""
import pytest

from app import create_app

from ..support.apps import serve
from ..support.assertions import assert_error


def scanned_by(browser, phone, ticket_id):
    phone.scan(ticket_id)
    return browser.get(f"/api/tickets/{ticket_id}").get_json()["scanned_by"]


@pytest.mark.parametrize("invisible", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200d", "\u200f", "\ufeff"])
def test_property_22_nicknames_lose_direction_and_zero_width_characters(browser, ticket, phone, invisible):
    assert phone.set_profile(nickname=f"Ad{invisible}min{invisible}").status_code == 200
    assert scanned_by(browser, phone, ticket["ticket_id"])["nickname"] == "Admin"


@pytest.mark.parametrize("nickname", ["x" * 33, "长" * 17, "\u200b" * 5])
def test_property_22_nicknames_are_capped_in_characters_and_width(phone, nickname):
    assert_error(phone.set_profile(nickname=nickname), 400, "invalid_request")
    assert phone.set_profile(nickname="长" * 16).status_code == 200  # 32 columns wide


@pytest.mark.parametrize("url", [
    "https://evil.example/a.png", "http://thirdwx.qlogo.cn/a", "https://thirdwx.qlogo.cn.evil.example/a",
    "https://user@thirdwx.qlogo.cn/a", "https://thirdwx.qlogo.cn:8443/a", "javascript:alert(1)",
    "data:image/svg+xml,<svg/>",
])
def test_property_22_avatars_only_from_wechat_or_own_storage(phone, url):
    assert_error(phone.set_profile(avatar_url=url), 400, "invalid_request")


def test_property_22_own_storage_is_allowed_when_configured(config):
    for app in serve(create_app({**config, "AVATAR_HOSTS": ["img.corp.example"]})):
        from ..support.phone import Phone

        phone = Phone(app.test_client(), "ok-amy").login()
        assert phone.set_profile(avatar_url="https://img.corp.example/amy.png").status_code == 200
        assert phone.set_profile(avatar_url="https://wx.qlogo.cn/mmopen/amy/132").status_code == 200
        page = app.test_client().get("/login")
        img_src = next(p for p in page.headers["Content-Security-Policy"].split(";") if "img-src" in p).split()
        assert "https://img.corp.example" in img_src and "https://thirdwx.qlogo.cn" in img_src
        assert "https:" not in img_src and "*" not in img_src


def test_property_22_not_you_cancels_the_scanned_code_for_good(browser, stranger, ticket, phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    assert_error(stranger.post(f"/api/tickets/{ticket_id}/cancel"), 403, "not_bound_browser")
    dropped = browser.post(f"/api/tickets/{ticket_id}/cancel")
    assert dropped.status_code == 200 and dropped.get_json()["status"] == "cancelled"
    assert_error(phone.confirm(ticket_id), 410, "ticket_cancelled")
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "cancelled"
    fresh = browser.post("/api/tickets").get_json()
    assert fresh["ticket_id"] != ticket_id and fresh["status"] == "pending"


def test_property_22_not_you_wins_over_a_confirm_not_yet_picked_up(browser, ticket, phone):
    ticket_id = ticket["ticket_id"]
    phone.scan(ticket_id)
    phone.confirm(ticket_id)
    assert browser.post(f"/api/tickets/{ticket_id}/cancel").get_json()["status"] == "cancelled"
    answer = browser.get(f"/api/tickets/{ticket_id}")
    assert answer.get_json()["status"] == "cancelled" and "qrl_session" not in answer.headers.get("Set-Cookie", "")
    assert_error(browser.get("/api/me"), 401, "not_authenticated")
