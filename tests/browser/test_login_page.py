"""The PC login page in a real browser against the real server: what a person sees in each state."""
import re
import time

import pytest
from playwright.sync_api import expect

from app.pc.i18n import TEXT

from ..support.live import AVATAR_HOST


def words(lang, key, **values):
    """The page's text; the app to scan with is WeChat (the live server has WeChat credentials)."""
    return TEXT[lang][key].format(**{"app": TEXT[lang]["app_wechat"], **values})


def pattern(lang, key, number=r"\d+"):
    """The text with its number left open, e.g. "Expires in \\d+s"."""
    return re.compile(re.escape(TEXT[lang][key]).replace(re.escape("{s}"), number))


@pytest.mark.parametrize("window, lang", [("desktop", "en"), ("phone", "zh-CN"), ("phone", "en"), ("desktop", "zh-TW")])
def test_scan_then_confirm_logs_the_page_in(live_server, open_login_page, make_phone, window, lang):
    login = open_login_page(live_server, window, lang)
    login.expect_qr_of_current_ticket()
    expect(login.status).to_have_text(words(lang, "pending"))
    expect(login.countdown).to_have_text(pattern(lang, "expires_in"))
    expect(login.page.locator(".hint")).to_have_text(words(lang, "hint"))
    login.expect_card_fits_the_window()
    login.screenshot("1-pending")

    small_screen = login.page.locator("#qrl-small-screen")
    # A phone cannot scan the code on its own screen: the page says so there, and only there.
    if window == "phone":
        expect(small_screen).to_have_text(re.compile(re.escape(words(lang, "small_screen"))))
    else:
        expect(small_screen).to_be_hidden()

    nickname = {"en": "Alice", "zh-CN": "小明", "zh-TW": "小明"}[lang]
    phone = make_phone(live_server, f"{window}-{lang}", nickname=nickname)
    assert phone.scan(login.ticket["ticket_id"]).status_code == 200
    expect(login.status).to_have_text(words(lang, "scanned", name=nickname))
    expect(login.page.locator("#qrl-nickname")).to_have_text(nickname)
    avatar = login.page.locator("#qrl-avatar")
    expect(avatar).to_have_attribute("src", f"{AVATAR_HOST}/{window}-{lang}.png")
    expect(avatar).to_be_visible()
    assert avatar.evaluate("img => img.naturalWidth") == 72
    expect(login.qr).to_be_hidden()
    expect(login.page.locator("#qrl-scanned .scanned-check")).to_be_visible()  # the person, with a check mark
    login.expect_card_fits_the_window()
    login.screenshot("2-scanned")

    assert phone.confirm(login.ticket["ticket_id"]).status_code == 200
    expect(login.page).to_have_url(live_server.url + "/")
    expect(login.page.locator("#welcome")).to_have_text(words(lang, "welcome", name=nickname))
    when = re.escape(TEXT[lang]["signed_in_from"]).replace(re.escape("{when}"), r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    expect(login.page.locator(".muted")).to_have_text(re.compile(when.replace(re.escape("{ip}"), r"127\.0\.0\.1")))
    login.screenshot("3-logged-in")


def test_someone_without_a_profile_is_shown_without_a_name_or_broken_avatar(live_server, open_login_page,
                                                                           make_phone):
    login = open_login_page(live_server, "phone", "zh-CN")
    phone = make_phone(live_server, "no-profile", profile=False)
    assert phone.scan(login.ticket["ticket_id"]).status_code == 200
    expect(login.status).to_have_text(words("zh-CN", "scanned_anonymous"))
    expect(login.page.locator("#qrl-avatar")).to_be_hidden()


def test_a_dead_avatar_link_shows_the_name_without_a_broken_image(live_server, open_login_page, make_phone):
    login = open_login_page(live_server)
    phone = make_phone(live_server, "missing-avatar", nickname="Dora")
    assert phone.scan(login.ticket["ticket_id"]).status_code == 200
    expect(login.status).to_have_text(words("en", "scanned", name="Dora"))
    expect(login.page.locator("#qrl-nickname")).to_have_text("Dora")
    expect(login.page.locator("#qrl-avatar")).to_be_hidden()


def test_cancel_on_the_phone_offers_a_fresh_code(live_server, open_login_page, make_phone):
    login = open_login_page(live_server, "phone")
    cancelled_ticket = login.ticket["ticket_id"]
    phone = make_phone(live_server, "canceller")
    phone.scan(cancelled_ticket)
    expect(login.status).to_have_text(words("en", "scanned", name="canceller"))
    assert phone.cancel(cancelled_ticket).status_code == 200

    expect(login.status).to_have_text(words("en", "cancelled"))
    expect(login.refresh).to_be_visible()
    expect(login.refresh).to_have_text(words("en", "new_code"))
    expect(login.qr).to_be_hidden()
    login.screenshot("4-cancelled")

    with login.expect_new_ticket():
        login.refresh.click()
    assert login.ticket["ticket_id"] != cancelled_ticket
    login.expect_qr_of_current_ticket()
    expect(login.status).to_have_text(words("en", "pending"))
    expect(login.refresh).to_be_hidden()


def test_not_you_drops_the_scanned_code_and_shows_a_fresh_one(live_server, open_login_page, make_phone):
    login = open_login_page(live_server)
    dropped = login.ticket["ticket_id"]
    phone = make_phone(live_server, "intruder", nickname="Intruder")
    phone.scan(dropped)
    expect(login.status).to_have_text(words("en", "scanned", name="Intruder"))
    not_you = login.page.locator("#qrl-not-you")
    expect(not_you).to_have_text(words("en", "not_you"))

    with login.expect_new_ticket():
        not_you.click()
    assert login.ticket["ticket_id"] != dropped
    login.expect_qr_of_current_ticket()
    expect(login.status).to_have_text(words("en", "pending"))
    # The person who scanned the dropped code can no longer confirm it.
    refused = phone.confirm(dropped)
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "ticket_cancelled"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_someone_not_allowed_is_refused_and_the_page_offers_a_new_code(start_live_server, open_login_page,
                                                                      make_phone, lang):
    server = start_live_server(ACCESS_POLICY="allowlist")
    login = open_login_page(server, "phone", lang)
    refused_ticket = login.ticket["ticket_id"]
    outsider = make_phone(server, f"outsider-{lang}")
    assert outsider.share_phone("phone-1370000000" + {"en": "1", "zh-CN": "2"}[lang]).status_code == 200
    answer = outsider.scan(refused_ticket)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "access_denied"

    expect(login.status).to_have_text(words(lang, "denied"))
    expect(login.qr).to_be_hidden()
    expect(login.refresh).to_be_visible()
    login.screenshot("5-denied")
    with login.expect_new_ticket():
        login.refresh.click()
    assert login.ticket["ticket_id"] != refused_ticket
    expect(login.status).to_have_text(words(lang, "pending"))


def test_expired_code_is_replaced_by_itself(start_live_server, open_login_page):
    server = start_live_server(TICKET_TTL_SECONDS=3)
    login = open_login_page(server, "phone", "en")
    first = login.ticket["ticket_id"]
    with login.expect_new_ticket(timeout=15_000):  # nobody scans; the code runs out
        login.expect_qr_of_current_ticket()
    assert login.ticket["ticket_id"] != first
    login.expect_qr_of_current_ticket()
    expect(login.status).to_have_text(words("en", "pending"))
    login.screenshot("5-renewed-after-expiry")


def test_unattended_page_stops_renewing_and_offers_a_button(start_live_server, open_login_page):
    server = start_live_server(TICKET_TTL_SECONDS=1)
    login = open_login_page(server)
    renewals = []
    login.page.on("request", lambda r: renewals.append(r) if r.method == "POST" else None)
    # Five codes renewed by themselves, then the page asks: a forgotten tab does not poll forever.
    expect(login.refresh).to_be_visible(timeout=20_000)
    assert len(renewals) == 5
    expect(login.status).to_have_text(words("en", "expired_stopped"))
    expect(login.qr).to_be_hidden()
    login.screenshot("8-expired-stopped")
    with login.expect_new_ticket():
        login.refresh.click()
    expect(login.refresh).to_be_hidden()


def test_page_recovers_when_the_server_restarts_mid_wait(start_live_server, open_login_page, make_phone):
    server = start_live_server()
    login = open_login_page(server)
    login.expect_qr_of_current_ticket()
    expect(login.status).to_have_text(words("en", "pending"))

    server.stop()
    expect(login.status).to_have_text(pattern("en", "offline"))
    login.screenshot("6-offline")
    server.start()  # same port, same database

    expect(login.status).to_have_text(words("en", "pending"), timeout=20_000)
    phone = make_phone(server, "restarter")
    assert phone.scan(login.ticket["ticket_id"]).status_code == 200
    expect(login.status).to_have_text(words("en", "scanned", name="restarter"))
    assert phone.confirm(login.ticket["ticket_id"]).status_code == 200
    expect(login.page).to_have_url(server.url + "/")
    expect(login.page.locator("#welcome")).to_have_text("Welcome, restarter")


def test_network_errors_back_off_instead_of_hammering(live_server, open_login_page, make_phone):
    login = open_login_page(live_server, "phone")
    expect(login.status).to_have_text(words("en", "pending"))
    ticket_id = login.ticket["ticket_id"]
    attempts = []

    def flaky_network(route):
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    # The poll in flight was sent before the route existed; the next ones go through it.
    login.page.route(f"**/api/tickets/{ticket_id}?*", flaky_network)
    phone = make_phone(live_server, "network")
    phone.scan(ticket_id)  # answers the poll in flight; the next polls fail
    expect(login.status).to_have_text(pattern("en", "offline"))
    login.screenshot("7-network-error")

    expect(login.status).to_have_text(words("en", "scanned", name="network"), timeout=20_000)
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:4])]
    # About 1 s, then 2 s, then 4 s (each ±20 %): never a tight loop.
    assert gaps[0] >= 0.7 and gaps[1] >= 1.5 and gaps[2] >= 3.0, gaps


def test_hidden_tab_stops_polling_and_catches_up_when_shown(live_server, open_login_page, make_phone):
    login = open_login_page(live_server, fake_clock=True)
    expect(login.status).to_have_text(words("en", "pending"))
    ticket_id = login.ticket["ticket_id"]
    polls = []
    login.page.on("request", lambda r: polls.append(r.url) if f"/api/tickets/{ticket_id}?" in r.url else None)

    login.set_hidden(True)
    login.page.clock.fast_forward("01:01")  # hidden for over a minute
    expect(login.status).to_have_text(words("en", "paused"))
    phone = make_phone(live_server, "hidden")
    assert phone.scan(ticket_id).status_code == 200
    sent_while_paused = len(polls)
    login.page.clock.fast_forward("00:20")  # every timer of the page gets its chance to poll
    expect(login.status).to_have_text(words("en", "paused"))
    assert len(polls) == sent_while_paused

    login.set_hidden(False)
    expect(login.status).to_have_text(words("en", "scanned", name="hidden"))
    assert phone.confirm(ticket_id).status_code == 200
    expect(login.page).to_have_url(live_server.url + "/")
