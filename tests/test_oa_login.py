"""Logging in by following the Official Account: WeChat's QR on the PC, the confirm link on the phone."""
import json
import re

import pytest
import sqlalchemy as sa
import xmltodict

from app import create_app, qr, tickets, users
from app.config import ConfigError
from app.extensions import db
from app.models import Identity, OaConfirmLink, OaEvent, Ticket, User, WeChatAccessToken

from .support.apps import official_account, serve
from .support.fake_wechat import OA_APPID, OA_SECRET, OA_TOKEN, FakeWeChat

QRCODE = "/cgi-bin/qrcode/create"
USER_INFO = "/cgi-bin/user/info"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
LINK = re.compile(r"http://localhost(/oa/confirm/[\w-]+)")


def new_ticket(app):
    browser = app.test_client()
    response = browser.post("/api/tickets", headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"})
    assert response.status_code == 201, response.get_json()
    return browser, response.get_json()


def scan(app, ticket_id, openid=OPENID, **options) -> str:
    """The openid scans the ticket's QR with WeChat; the reply's text."""
    push = FakeWeChat.push_request(FakeWeChat.event(openid, ticket_id, **options))
    response = app.test_client().post("/api/oa/callback", query_string=push.query, data=push.body,
                                      headers=push.headers)
    assert response.status_code == 200
    return xmltodict.parse(response.data)["xml"]["Content"]


def link_in(reply: str) -> str:
    return LINK.search(reply).group(1)


def poll(browser, ticket_id):
    return browser.get(f"/api/tickets/{ticket_id}")


def follower(openid=OPENID) -> User:
    """The user the Official Account's follower signs in as (call inside an app context)."""
    return db.session.scalar(sa.select(User).join(Identity, Identity.user_id == User.id)
                             .where(Identity.provider == "wechat_oa", Identity.openid == openid))


def decide(phone, link, ticket_id, decision="confirm"):
    return phone.post(link, data={"ticket": ticket_id, "decision": decision})


# --- the QR ----------------------------------------------------------------------------

def test_ticket_qr_is_wechats_parametric_code_naming_the_ticket(oa_app, wechat):
    _, ticket = new_ticket(oa_app)
    [call] = [c for c in wechat.calls if c["path"] == QRCODE]
    assert call["json"] == {"expire_seconds": 120, "action_name": "QR_STR_SCENE",
                            "action_info": {"scene": {"scene_str": ticket["ticket_id"]}}}
    assert wechat.qrcodes[ticket["qr_content"]] == ticket["ticket_id"]
    assert ticket["qr_svg"] == qr.svg(ticket["qr_content"]).decode()
    with oa_app.app_context():
        assert db.session.get(Ticket, ticket["ticket_id"]).qr_url == ticket["qr_content"]
        # The Official Account's token has its own shared row, keyed by its app id.
        assert db.session.scalars(sa.select(WeChatAccessToken.appid)).all() == [OA_APPID]


def test_qr_images_draw_wechats_url(oa_app):
    browser, ticket = new_ticket(oa_app)
    assert browser.get(ticket["qr_svg_url"]).data == qr.svg(ticket["qr_content"])
    assert browser.get(ticket["qr_png_url"]).data == qr.png(ticket["qr_content"])


@pytest.mark.parametrize("errcode, status, code", [
    (-1, 503, "wechat_unavailable"),
    (45009, 503, "wechat_quota_exceeded"),
    (48001, 502, "wechat_oa_unauthorized"),
    (40013, 502, "wechat_misconfigured"),
])
def test_wechat_failure_is_a_clear_error_and_leaves_no_ticket(oa_app, wechat, errcode, status, code):
    wechat.script(QRCODE, *[("errcode", errcode)] * 3)
    response = oa_app.test_client().post("/api/tickets")
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    if status == 503:
        assert int(response.headers["Retry-After"]) > 0
    with oa_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_login_page_asks_to_scan_with_wechat(oa_app):
    page = oa_app.test_client().get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    words = json.loads(re.search(r'<script id="qrl-text" type="application/json">(.*?)</script>', page).group(1))
    assert words["pending"] == "请用微信扫码登录（将关注公众号）"
    assert words["scanned_anonymous"] == "已扫码，请在微信中打开链接确认"


# --- the confirm link ------------------------------------------------------------------

def test_confirm_page_shows_the_pc_and_confirm_logs_the_pc_in(oa_app, wechat):
    browser, ticket = new_ticket(oa_app)
    ticket_id = ticket["ticket_id"]
    link = link_in(scan(oa_app, ticket_id))
    assert poll(browser, ticket_id).get_json()["status"] == "scanned"

    phone = oa_app.test_client()
    page = phone.get(link, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "A computer wants to log in as you:" in text
    assert "127.0.0.1" in text and "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0" in text
    assert "Confirm login" in text and "Cancel" in text
    assert "确认登录" in phone.get(link, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)

    done = decide(phone, link, ticket_id)
    assert done.status_code == 200
    assert "Done. The computer is logged in." in done.get_data(as_text=True)
    answer = poll(browser, ticket_id)
    assert answer.get_json()["status"] == "confirmed"
    me = browser.get("/api/me").get_json()
    with oa_app.app_context():
        user = follower()
        assert me["user"]["id"] == user.public_id
        # The follower's unionid was asked of WeChat when the page opened (once), not in the callback.
        assert user.unionid == f"union-{OPENID}"
    [info] = [c for c in wechat.calls if c["path"] == USER_INFO]
    assert info["query"]["openid"] == OPENID


def test_cancel_on_the_confirm_page_cancels_the_login(oa_app):
    browser, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    done = decide(oa_app.test_client(), link, ticket["ticket_id"], "cancel")
    assert "Cancelled. The computer was not logged in." in done.get_data(as_text=True)
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "cancelled"
    assert browser.get("/api/me").status_code == 401


def test_confirm_link_works_once(oa_app):
    browser, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    phone = oa_app.test_client()
    assert decide(phone, link, ticket["ticket_id"]).status_code == 200
    again = decide(phone, link, ticket["ticket_id"], "cancel")
    assert again.status_code == 410
    assert "This confirm link has already been used." in again.get_data(as_text=True)
    assert phone.get(link).status_code == 410
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "confirmed"


def test_confirm_link_cannot_decide_another_ticket(oa_app):
    _, mine = new_ticket(oa_app)
    other_browser, other = new_ticket(oa_app)
    link = link_in(scan(oa_app, mine["ticket_id"]))
    scan(oa_app, other["ticket_id"])  # the same person scanned the other code too
    refused = decide(oa_app.test_client(), link, other["ticket_id"])
    assert refused.status_code == 404
    assert "This confirm link is not valid for this login." in refused.get_data(as_text=True)
    assert poll(other_browser, other["ticket_id"]).get_json()["status"] == "scanned"


def test_confirm_link_dies_with_the_qr(oa_app, clock):
    browser, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    clock.advance(121)
    phone = oa_app.test_client()
    assert phone.get(link).status_code == 410
    assert decide(phone, link, ticket["ticket_id"]).status_code == 410
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "expired"


@pytest.mark.parametrize("link", ["/oa/confirm/" + "A" * 43, "/oa/confirm/not%20a%20link", "/oa/confirm/" + "x" * 300])
def test_made_up_confirm_links_are_refused(oa_app, link):
    _, ticket = new_ticket(oa_app)
    scan(oa_app, ticket["ticket_id"])
    phone = oa_app.test_client()
    assert phone.get(link).status_code == 404
    assert decide(phone, link, ticket["ticket_id"]).status_code == 404


def test_confirm_links_are_stored_only_as_hashes(oa_app):
    _, ticket = new_ticket(oa_app)
    secret = link_in(scan(oa_app, ticket["ticket_id"])).rsplit("/", 1)[1]
    with oa_app.app_context():
        [row] = db.session.scalars(sa.select(OaConfirmLink)).all()
        assert secret not in (row.token_hash, row.openid, row.ticket_id)


def test_confirm_page_without_a_choice_is_a_clear_refusal(oa_app):
    browser, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    assert decide(oa_app.test_client(), link, ticket["ticket_id"], "maybe").status_code == 400
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "scanned"


def test_unreachable_wechat_on_the_confirm_page_still_lets_the_person_log_in(oa_app, wechat):
    browser, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    wechat.script(USER_INFO, *[("http", 500)] * 3)
    phone = oa_app.test_client()
    assert phone.get(link).status_code == 200
    assert decide(phone, link, ticket["ticket_id"]).status_code == 200
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "confirmed"


# --- the scan as the login ------------------------------------------------------------------

def test_scan_confirms_at_once_when_the_team_chose_so(config, wechat):
    for app in serve(create_app(official_account(config, OA_SCAN_CONFIRMS=True))):
        browser, ticket = new_ticket(app)
        reply = scan(app, ticket["ticket_id"])
        assert "The computer is logged in as you" in reply
        assert "oa/confirm" not in reply
        assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "confirmed"
        assert browser.get("/api/me").status_code == 200


# --- development: a page plays WeChat ------------------------------------------------------------

@pytest.fixture
def oa_dev_app(config):
    """`make run` with QR_MODE=official_account and no Official Account."""
    yield from serve(create_app({**config, "QR_MODE": "official_account", "WECHAT_APPID": None}))


def test_development_mode_plays_wechat_end_to_end(oa_dev_app, wechat):
    browser, ticket = new_ticket(oa_dev_app)
    ticket_id = ticket["ticket_id"]
    assert ticket["qr_content"] == f"http://localhost/oa/dev/{ticket_id}"
    phone = oa_dev_app.test_client()
    page = phone.get(f"/oa/dev/{ticket_id}").get_data(as_text=True)
    assert ticket_id in page and "this page plays WeChat" in page
    push = phone.post(f"/oa/dev/{ticket_id}/push", json={"name": "Dora", "following": False}).get_json()
    assert "<Event><![CDATA[subscribe]]></Event>" in push["body"]
    delivered = phone.post("/api/oa/callback", query_string=push["query"], data=push["body"],
                           headers={"Content-Type": "text/xml"})
    link = link_in(xmltodict.parse(delivered.data)["xml"]["Content"])
    assert poll(browser, ticket_id).get_json()["status"] == "scanned"
    assert decide(phone, link, ticket_id).status_code == 200
    assert poll(browser, ticket_id).get_json()["status"] == "confirmed"
    assert browser.get("/api/me").get_json()["user"]["nickname"] == ""
    assert wechat.calls == []  # no WeChat at all


def test_development_pages_do_not_exist_with_a_real_official_account(oa_app):
    _, ticket = new_ticket(oa_app)
    assert oa_app.test_client().get(f"/oa/dev/{ticket['ticket_id']}").status_code == 404
    assert oa_app.test_client().post(f"/oa/dev/{ticket['ticket_id']}/push", json={"name": "x"}).status_code == 404


# --- settings --------------------------------------------------------------------------------------

PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
              "PUBLIC_BASE_URL": "https://login.example.com", "QR_MODE": "official_account", "ACCESS_POLICY": "open"}


@pytest.mark.parametrize("settings, message", [
    ({}, "QR_MODE=official_account needs WECHAT_OA_APPID, WECHAT_OA_SECRET and WECHAT_OA_TOKEN"),
    ({"WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_TOKEN": OA_TOKEN}, "needs WECHAT_OA_SECRET"),
    ({"WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET, "WECHAT_OA_TOKEN": "no spaces"},
     "WECHAT_OA_TOKEN must be 3 to 32 letters or digits"),
    ({"WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET, "WECHAT_OA_TOKEN": OA_TOKEN,
      "WECHAT_OA_AES_KEY": "tooshort"}, "WECHAT_OA_AES_KEY: an EncodingAESKey has 43 characters"),
    ({"WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET, "WECHAT_OA_TOKEN": OA_TOKEN,
      "WECHAT_OA_AES_KEY": "!" * 43}, "WECHAT_OA_AES_KEY: an EncodingAESKey is base64"),
    ({"OA_SCAN_CONFIRMS": "maybe"}, "OA_SCAN_CONFIRMS must be 1 or 0"),
])
def test_settings_that_cannot_work_stop_the_start_with_one_line(settings, message):
    from app import config as config_mod

    with pytest.raises(ConfigError, match=re.escape(message)):
        cfg = config_mod.from_env({**PRODUCTION, **settings})
        config_mod.finalize(cfg)


def test_an_official_account_alone_is_a_complete_production_setup():
    from app import config as config_mod

    cfg = config_mod.from_env({**PRODUCTION, "WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET,
                               "WECHAT_OA_TOKEN": OA_TOKEN})
    config_mod.finalize(cfg)
    assert cfg["DEV_LOGIN"] is False and cfg["OA_DEV"] is False


def test_mini_program_sign_in_is_refused_when_there_is_no_mini_program(config, wechat):
    for app in serve(create_app(official_account(config, WECHAT_APPID=None))):
        response = app.test_client().post("/api/mp/login", json={"code": "dev:mallory"})
        assert response.status_code == 400
        response = app.test_client().post("/api/mp/login", json={"code": "ok-mallory"})
        assert response.status_code == 400
        assert not any(call["path"] == "/sns/jscode2session" for call in wechat.calls)


def test_purge_removes_old_events_and_the_links_of_purged_tickets(oa_app, clock):
    _, ticket = new_ticket(oa_app)
    scan(oa_app, ticket["ticket_id"])
    clock.advance(2 * 24 * 3600)
    result = oa_app.test_cli_runner().invoke(args=["tickets", "purge", "--older-than", "3600"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 Official Account events." in result.output
    with oa_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OaEvent)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OaConfirmLink)) == 0


def test_a_follower_known_from_the_mini_program_logs_in_as_that_user(oa_app):
    # Both apps are bound to one Open Platform account: WeChat gives the follower the same unionid.
    with oa_app.app_context():
        known = users.find_or_create({"provider": "wechat_mp", "appid": "wx-test-appid", "openid": "o-mini",
                                      "unionid": f"union-{OPENID}", "nickname": "Alice"})
        known_id = known.public_id
    browser, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    phone = oa_app.test_client()
    assert phone.get(link).status_code == 200  # learns the unionid
    assert decide(phone, link, ticket["ticket_id"]).status_code == 200
    assert poll(browser, ticket["ticket_id"]).get_json()["scanned_by"]["nickname"] == "Alice"
    assert browser.get("/api/me").get_json()["user"]["id"] == known_id


@pytest.fixture
def allowlist_app(config, wechat):
    yield from serve(create_app(official_account(config, ACCESS_POLICY="allowlist")))


def test_allowlist_lets_in_a_follower_named_by_unionid_learned_on_the_confirm_page(allowlist_app):
    with allowlist_app.app_context():
        users.add_entry("unionid", f"union-{OPENID}")
        db.session.commit()
    browser, ticket = new_ticket(allowlist_app)
    link = link_in(scan(allowlist_app, ticket["ticket_id"]))
    phone = allowlist_app.test_client()
    assert phone.get(link).status_code == 200
    assert decide(phone, link, ticket["ticket_id"]).status_code == 200
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "confirmed"
    assert browser.get("/api/me").status_code == 200


def test_allowlist_refuses_a_stranger_on_the_confirm_page_and_the_pc_is_told(allowlist_app):
    browser, ticket = new_ticket(allowlist_app)
    link = link_in(scan(allowlist_app, ticket["ticket_id"]))
    refused = allowlist_app.test_client().get(link)
    assert refused.status_code == 403
    assert "may not log in" in refused.get_data(as_text=True)
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "denied"
    assert decide(allowlist_app.test_client(), link, ticket["ticket_id"]).status_code in (403, 410)
    assert browser.get("/api/me").status_code == 401


def test_a_known_follower_who_may_not_log_in_is_refused_at_the_scan(allowlist_app):
    _, first = new_ticket(allowlist_app)
    allowlist_app.test_client().get(link_in(scan(allowlist_app, first["ticket_id"])))  # unionid now known
    browser, ticket = new_ticket(allowlist_app)
    reply = scan(allowlist_app, ticket["ticket_id"], create_time=1)
    assert "This account may not log in to" in reply and "oa/confirm" not in reply
    assert poll(browser, ticket["ticket_id"]).get_json()["status"] == "denied"


def test_confirm_page_warns_when_the_phone_is_on_another_network(oa_app):
    _, ticket = new_ticket(oa_app)
    link = link_in(scan(oa_app, ticket["ticket_id"]))
    phone = oa_app.test_client()
    away = phone.get(link, environ_base={"REMOTE_ADDR": "198.51.100.7"}).get_data(as_text=True)
    assert "This computer is on a different network from your phone." in away
    assert "different network" not in phone.get(link).get_data(as_text=True)
