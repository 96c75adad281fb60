"""Following the Official Account to log in, in real browsers: the PC page, WeChat's push, the phone's confirm page."""
import re

import pytest
import xmltodict
from playwright.sync_api import expect
from wechatpy.crypto import WeChatCrypto

from app.pc.i18n import TEXT

from ..support.fake_wechat import OA_AES_KEY, OA_APPID, OA_SECRET, OA_TOKEN
from ..support.live import ARTIFACTS

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
SCREENSHOTS = ARTIFACTS / "screenshots"
OFFICIAL_ACCOUNT = {"QR_MODE": "official_account", "WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET,
                    "WECHAT_OA_TOKEN": OA_TOKEN, "WECHAT_OA_AES_KEY": OA_AES_KEY}


@pytest.fixture
def oa_server(start_live_server, wechat):
    """The service as deployed (gunicorn, two workers) logging in through the fake's Official Account, safe mode."""
    return start_live_server(**OFFICIAL_ACCOUNT)


def reply_text(response) -> str:
    """What the person reads in WeChat: the passive reply, opened with wechatpy."""
    assert response.status_code == 200, response.text
    outer = xmltodict.parse(response.content)["xml"]
    inner = WeChatCrypto(OA_TOKEN, OA_AES_KEY, OA_APPID).decrypt_message(
        response.content, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    return xmltodict.parse(inner)["xml"]["Content"]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_follow_scan_confirm_logs_the_pc_in(oa_server, open_login_page, phone_browser, wechat, lang):
    login = open_login_page(oa_server, "desktop", lang)
    ticket_id = login.ticket["ticket_id"]
    assert wechat.qrcodes[login.ticket["qr_content"]] == ticket_id
    login.expect_qr_of_current_ticket(content=login.ticket["qr_content"])
    expect(login.status).to_have_text(TEXT[lang]["pending_oa"])
    login.screenshot("oa-1-pending")

    # A new follower scans: WeChat pushes `subscribe` with the scene, encrypted, to the callback.
    reply = reply_text(wechat.push(oa_server.url + "/api/oa/callback", wechat.event(OPENID, ticket_id),
                                   safe=True, openid=OPENID))
    expect(login.status).to_have_text(TEXT[lang]["scanned_oa"])
    login.screenshot("oa-2-scanned")
    link = re.search(r"http://\S+/oa/confirm/[\w-]+", reply).group(0)

    # The person taps the link in the chat: WeChat's browser on the phone.
    phone = phone_browser(link, lang)
    expect(phone.locator("h1")).to_have_text(TEXT[lang]["phone_title"])
    expect(phone.locator("#pc-ip")).to_have_text("127.0.0.1")
    expect(phone.locator("#pc-ua")).to_contain_text("Chrome")
    expect(phone.locator("#pc-time")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    phone.screenshot(path=SCREENSHOTS / f"oa-3-confirm-page-phone-{lang}.png")
    phone.locator("#confirm").click()
    expect(phone.locator("#result")).to_have_text(TEXT[lang]["phone_done"])
    phone.goto(link)  # the link was used up
    expect(phone.locator("#result")).to_have_text(TEXT[lang]["oa_oa_link_used"])

    expect(login.page).to_have_url(oa_server.url + "/")
    expect(login.page.locator("#welcome")).to_have_text(re.compile(re.escape(TEXT[lang]["welcome"].format(name="#"))
                                                                   + r"\d+"))
    login.screenshot("oa-4-logged-in")


def test_page_says_when_wechat_cannot_make_the_code_and_recovers(oa_server, open_login_page, wechat):
    # WeChat is busy for the first code (three tries inside the service), then makes the next one.
    wechat.script("/cgi-bin/qrcode/create", ("errcode", -1), ("errcode", -1), ("errcode", -1))
    login = open_login_page(oa_server, "desktop", "en")
    assert login.ticket["error"]["code"] == "wechat_unavailable"
    wechat_down = re.escape(TEXT["en"]["wechat_down"]).replace(re.escape("{s}"), r"\d+")
    expect(login.status).to_have_text(re.compile(wechat_down))
    expect(login.qr).to_be_hidden()
    login.screenshot("oa-5-wechat-down")
    expect(login.status).to_have_text(TEXT["en"]["pending_oa"], timeout=15_000)
    expect(login.qr).to_be_visible()


def test_development_mode_demo_without_wechat(start_live_server, open_login_page, phone_browser, wechat):
    # `make run` with QR_MODE=official_account and no Official Account: a page plays WeChat.
    server = start_live_server(QR_MODE="official_account")
    login = open_login_page(server, "desktop", "en")
    dev_page = login.ticket["qr_content"]
    assert dev_page == f"{server.url}/oa/dev/{login.ticket['ticket_id']}"
    login.expect_qr_of_current_ticket(content=dev_page)

    phone = phone_browser(dev_page)
    expect(phone.locator("#scene")).to_have_text(login.ticket["ticket_id"])
    phone.locator("#name").fill("Dora")
    phone.get_by_role("button", name=TEXT["en"]["oa_dev_scan"]).click()
    expect(phone.locator("#reply")).to_contain_text("A computer wants to log in as you")
    phone.screenshot(path=SCREENSHOTS / "oa-6-development-wechat-phone-en.png")
    expect(login.status).to_have_text(TEXT["en"]["scanned_oa"])
    phone.locator("#reply-link").click()
    phone.locator("#confirm").click()
    expect(phone.locator("#result")).to_have_text(TEXT["en"]["phone_done"])
    expect(login.page).to_have_url(server.url + "/")
    assert not any(call["path"].startswith("/cgi-bin/") for call in wechat.calls)
