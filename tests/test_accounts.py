"""Accounts and access: verified phone numbers, one user across WeChat apps, who may log in."""
import pytest
import sqlalchemy as sa

from app import access, create_app, users
from app.extensions import db
from app.models import Identity, LoginSession, Ticket, User

from .support.apps import serve
from .support.assertions import assert_error, log_in, sample
from .support.fake_wechat import APPID
from .support.phone import Phone

PHONE_PATH = "/wxa/business/getuserphonenumber"


def user_row(app, public_id) -> User:
    with app.app_context():
        return db.session.scalar(sa.select(User).where(User.public_id == public_id))


def block(app, public_id) -> None:
    with app.app_context():
        users.block(db.session.scalar(sa.select(User).where(User.public_id == public_id)))
        db.session.commit()


def ticket_status(app, ticket_id) -> str:
    with app.app_context():
        return db.session.get(Ticket, ticket_id).status


@pytest.fixture
def allowlist_app(config, wechat):
    yield from serve(create_app({**config, "ACCESS_POLICY": "allowlist", "SITE_NAME": "Example Intranet"}))


def allow(app, kind, value, group=""):
    with app.app_context():
        users.add_entry(kind, value, group)
        db.session.commit()


# --- the phone number ------------------------------------------------------------

def test_a_phone_number_verified_by_wechat_is_stored_with_its_country_code(app, phone, wechat):
    checks = sample("qrlogin_phone_checks_total", result="verified")
    response = phone.share_phone("phone-13800000000")
    assert response.status_code == 200
    assert response.get_json()["user"]["phone"] == "+8613800000000"
    assert response.get_json()["user"]["needs_phone"] is False
    call = next(c for c in wechat.calls if c["path"] == PHONE_PATH)
    # WeChat checks the code belongs to this user when it is given the openid
    assert call["json"] == {"code": "phone-13800000000", "openid": "o-alice"}
    assert call["query"]["access_token"] == wechat.token
    row = user_row(app, phone.user["id"])
    assert row.phone == "+8613800000000" and row.phone_verified_at is not None
    assert sample("qrlogin_phone_checks_total", result="verified") == checks + 1


def test_a_number_from_another_country_keeps_its_own_code(app, phone, wechat):
    assert phone.share_phone("phone-852-51234567").get_json()["user"]["phone"] == "+85251234567"


def test_a_known_number_is_never_asked_for_again(app, phone, wechat):
    phone.share_phone("phone-13800000000")
    again = phone.share_phone("phone-13900000000")
    assert again.status_code == 200 and again.get_json()["user"]["phone"] == "+8613800000000"
    assert wechat.count(PHONE_PATH) == 1  # each call costs money


def test_a_used_phone_code_is_refused_and_nothing_is_stored(app, phone, other_phone, wechat):
    assert other_phone.share_phone("phone-13800000000").status_code == 200
    assert_error(phone.share_phone("phone-13800000000"), 400, "phone_code_invalid")
    assert user_row(app, phone.user["id"]).phone is None


def test_a_number_watermarked_for_another_app_is_not_stored(app, phone, wechat):
    assert_error(phone.share_phone("wrongapp-phone-13800000000"), 502, "phone_wrong_app")
    row = user_row(app, phone.user["id"])
    assert row.phone is None and row.phone_verified_at is None


@pytest.mark.parametrize(
    "actions, status, code",
    [
        ([("errcode", 1400001)], 503, "phone_quota_exhausted"),
        ([("errcode", -1)] * 3, 503, "wechat_unavailable"),
        ([("errcode", 45011)], 429, "wechat_rate_limited"),
        ([("errcode", 40029)], 400, "phone_code_invalid"),
        ([("http", 500)], 502, "wechat_failed"),
        ([("close",)], 503, "wechat_unavailable"),
    ],
    ids=["quota-used-up", "busy", "too-fast", "invalid-code", "http-500", "down"],
)
def test_wechat_failures_become_clear_errors_and_store_nothing(app, phone, wechat, actions, status, code):
    wechat.script(PHONE_PATH, *actions)
    assert_error(phone.share_phone("phone-13800000000"), status, code)
    assert user_row(app, phone.user["id"]).phone is None
    assert phone.me().get_json()["user"]["phone"] is None


def test_the_paid_allowance_running_out_is_reported(app, phone, wechat):
    wechat.phone_quota = 0
    response = phone.share_phone("phone-13800000000")
    assert_error(response, 503, "phone_quota_exhausted")
    assert response.headers["Retry-After"]


def test_phone_checks_are_rate_limited_per_user(config, wechat):
    for app in serve(create_app({**config, "PHONE_RATE_LIMIT": "2/hour"})):
        alice, bob = Phone(app.test_client(), "ok-alice").login(), Phone(app.test_client(), "ok-bob").login()
        for _ in range(2):
            assert_error(alice.share_phone("wrong"), 400, "phone_code_invalid")
        assert_error(alice.share_phone("phone-13800000000"), 429, "rate_limited")
        assert wechat.count(PHONE_PATH) == 2
        assert bob.share_phone("phone-13900000000").status_code == 200  # others are not held up


def test_development_phone_codes_work_only_in_development_sign_in(app, dev_app, phone):
    dev = Phone(dev_app.test_client(), "dev:Dana").login()
    response = dev.share_phone("dev-phone:+86 138 0000 0000")
    assert response.status_code == 200 and response.get_json()["user"]["phone"] == "+8613800000000"
    assert_error(Phone(dev_app.test_client(), "dev:Eve").login().share_phone("dev-phone:12345"), 400,
                 "invalid_phone")
    assert_error(Phone(dev_app.test_client(), "dev:Finn").login().share_phone("phone-13800000000"), 400,
                 "invalid_request")
    assert_error(phone.share_phone("dev-phone:+8613800000000"), 400, "dev_login_disabled")
    assert user_row(app, phone.user["id"]).phone is None


# --- one person, one account ----------------------------------------------------

def test_one_person_in_two_wechat_apps_is_one_user_by_unionid(app, phone):
    with app.app_context():
        # the same person (unionid u-alice) logs in through the company's Official Account
        oa_user = users.find_or_create({"provider": "wechat_oa", "appid": "wx-official-account",
                                        "openid": "oa-openid-of-alice", "unionid": "u-alice"})
        stranger = users.find_or_create({"provider": "wechat_oa", "appid": "wx-official-account",
                                         "openid": "oa-openid-of-zoe"})
        assert oa_user.public_id == phone.user["id"]
        assert stranger.public_id != phone.user["id"]
        identities = db.session.scalars(sa.select(Identity).where(Identity.user_id == oa_user.id)
                                         .order_by(Identity.id)).all()
        assert [(i.provider, i.appid, i.openid) for i in identities] == [
            ("wechat_mp", APPID, "o-alice"), ("wechat_oa", "wx-official-account", "oa-openid-of-alice")]
    # signing in again through the mini-program finds the same person
    assert Phone(app.test_client(), "ok-alice").login().user["id"] == phone.user["id"]


def test_an_identity_that_later_brings_a_unionid_links_the_next_app(app):
    with app.app_context():
        first = users.find_or_create({"provider": "wechat_mp", "appid": "wx-a", "openid": "o-1"})
        again = users.find_or_create({"provider": "wechat_mp", "appid": "wx-a", "openid": "o-1", "unionid": "u-9"})
        other_app = users.find_or_create({"provider": "wechat_mp", "appid": "wx-b", "openid": "o-2",
                                          "unionid": "u-9"})
        assert first.id == again.id == other_app.id and other_app.unionid == "u-9"


def test_the_user_id_other_software_sees_is_opaque_and_not_the_openid(app, browser, phone):
    log_in(browser, phone)
    seen = browser.get("/api/me").get_json()["user"]["id"]
    assert seen == phone.user["id"] and seen.startswith("u_") and len(seen) == 22
    assert "o-alice" not in seen and "u-alice" not in seen


# --- who may log in --------------------------------------------------------------

def test_open_policy_lets_anyone_with_wechat_log_in(app, browser, phone):
    assert app.config["ACCESS_POLICY"] == "open"
    assert log_in(browser, phone).get_json()["status"] == "confirmed"


def test_someone_not_allowed_is_refused_at_scan_and_the_pc_is_told(allowlist_app, wechat):
    browser, alice = allowlist_app.test_client(), Phone(allowlist_app.test_client(), "ok-alice").login()
    refused = sample("qrlogin_access_refused_total", stage="scan", reason="not_allowed")
    ticket = browser.post("/api/tickets").get_json()["ticket_id"]
    # no number yet: the phone is asked for it, and the code waits
    assert alice.user["needs_phone"] is True
    assert_error(alice.scan(ticket), 403, "phone_required")
    assert ticket_status(allowlist_app, ticket) == "pending"
    alice.share_phone("phone-13800000000")
    response = alice.scan(ticket)
    assert_error(response, 403, "access_denied")
    assert "may not log in to Example Intranet" in response.get_json()["error"]["message"]
    poll = browser.get(f"/api/tickets/{ticket}").get_json()
    assert poll["status"] == "denied" and "scanned_by" not in poll
    assert browser.get("/api/me").status_code == 401
    assert_error(alice.confirm(ticket), 403, "access_denied")
    assert ticket_status(allowlist_app, ticket) == "denied"
    assert sample("qrlogin_access_refused_total", stage="scan", reason="not_allowed") == refused + 1
    with allowlist_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 0


def test_a_refusal_is_logged_with_the_user_id(allowlist_app, wechat, log_lines):
    alice = Phone(allowlist_app.test_client(), "ok-alice").login()
    alice.share_phone("phone-13800000000")
    ticket = allowlist_app.test_client().post("/api/tickets").get_json()["ticket_id"]
    alice.scan(ticket)
    line = next(line for line in log_lines() if "login refused" in line)
    assert alice.user["id"] in line and "not_allowed" in line and "scan" in line


@pytest.mark.parametrize("kind, value", [("phone", "+8613800000000"), ("unionid", "u-alice"), ("user", None)])
def test_people_on_the_allowlist_log_in(allowlist_app, wechat, kind, value):
    browser, alice = allowlist_app.test_client(), Phone(allowlist_app.test_client(), "ok-alice").login()
    allow(allowlist_app, kind, value or alice.user["id"])
    if kind == "phone":  # only a number WeChat verified counts
        alice.share_phone("phone-13800000000")
    assert log_in(browser, alice).get_json()["status"] == "confirmed"
    assert browser.get("/api/me").get_json()["user"]["id"] == alice.user["id"]


def test_a_phone_number_typed_into_the_profile_does_not_count(allowlist_app, wechat):
    alice = Phone(allowlist_app.test_client(), "ok-alice").login()
    allow(allowlist_app, "phone", "+8613800000000")
    alice.client.post("/api/mp/me", json={"nickname": "+8613800000000", "phone": "+8613800000000"},
                      headers=alice.headers())
    ticket = allowlist_app.test_client().post("/api/tickets").get_json()["ticket_id"]
    assert_error(alice.scan(ticket), 403, "phone_required")


def test_group_members_may_log_in_under_the_allowlist(allowlist_app, wechat):
    browser, alice = allowlist_app.test_client(), Phone(allowlist_app.test_client(), "ok-alice").login()
    allow(allowlist_app, "unionid", "u-alice", "ops")
    assert log_in(browser, alice).get_json()["status"] == "confirmed"


def test_someone_taken_off_the_list_after_scanning_is_refused_at_confirm(allowlist_app, wechat):
    browser, alice = allowlist_app.test_client(), Phone(allowlist_app.test_client(), "ok-alice").login()
    allow(allowlist_app, "unionid", "u-alice")
    ticket = browser.post("/api/tickets").get_json()["ticket_id"]
    assert alice.scan(ticket).status_code == 200
    with allowlist_app.app_context():
        users.remove_entries("unionid", "u-alice")
        db.session.commit()
    assert_error(alice.confirm(ticket), 403, "access_denied")
    assert browser.get(f"/api/tickets/{ticket}").get_json()["status"] == "denied"
    assert browser.get("/api/me").status_code == 401


def test_someone_blocked_between_confirm_and_pick_up_gets_no_session(app, browser, phone):
    refused = sample("qrlogin_access_refused_total", stage="pickup", reason="blocked")
    ticket = browser.post("/api/tickets").get_json()["ticket_id"]
    phone.scan(ticket)
    phone.confirm(ticket)
    block(app, phone.user["id"])
    response = browser.get(f"/api/tickets/{ticket}")
    assert response.get_json()["status"] == "denied"
    assert "Set-Cookie" not in response.headers or "qrl_session" not in response.headers["Set-Cookie"]
    assert browser.get("/api/me").status_code == 401
    assert sample("qrlogin_access_refused_total", stage="pickup", reason="blocked") == refused + 1


def test_a_refused_stranger_cannot_end_a_code_someone_else_scanned(allowlist_app, wechat):
    browser = allowlist_app.test_client()
    alice, mallory = (Phone(allowlist_app.test_client(), code).login() for code in ("ok-alice", "ok-mallory"))
    allow(allowlist_app, "unionid", "u-alice")
    allow(allowlist_app, "unionid", "u-mallory")
    ticket = browser.post("/api/tickets").get_json()["ticket_id"]
    alice.scan(ticket)
    with allowlist_app.app_context():
        users.remove_entries("unionid", "u-mallory")
        db.session.commit()
    mallory.share_phone("phone-13600000000")
    assert_error(mallory.scan(ticket), 403, "access_denied")
    assert ticket_status(allowlist_app, ticket) == "scanned"
    assert alice.confirm(ticket).status_code == 200


def test_groups_of_lists_a_users_groups_sorted_and_guards_narrower_things(app, phone):
    with app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.public_id == phone.user["id"]))
        users.add_entry("unionid", "u-alice", "ops")
        users.add_entry("user", alice.public_id, "admins")
        users.add_entry("phone", "+8613800000000", "finance")  # not her verified number (she has none)
        db.session.commit()
        assert users.groups_of(alice) == ["admins", "ops"]
        assert access.allowed(alice) and access.allowed(alice, groups=["ops", "hr"])
        assert not access.allowed(alice, groups=["finance"])
        with pytest.raises(Exception) as refused:
            access.check(alice, groups={"finance"})
        assert refused.value.code == "access_denied" and refused.value.status == 403


def test_blocking_ends_every_pc_session_and_mini_program_token(app, phone):
    office, home = app.test_client(), app.test_client()
    log_in(office, phone)
    log_in(home, phone)
    block(app, phone.user["id"])
    assert office.get("/api/me").status_code == 401 and home.get("/api/me").status_code == 401
    assert_error(phone.me(), 401, "token_revoked")
    # signing in again works, but logging in anywhere does not
    again = Phone(app.test_client(), "ok-alice").login()
    ticket = app.test_client().post("/api/tickets").get_json()["ticket_id"]
    assert_error(again.scan(ticket), 403, "access_denied")


def test_require_phone_asks_for_the_number_before_the_first_login(config, wechat):
    for app in serve(create_app({**config, "REQUIRE_PHONE": True})):
        browser, alice = app.test_client(), Phone(app.test_client(), "ok-alice").login()
        assert alice.user["needs_phone"] is True
        ticket = browser.post("/api/tickets").get_json()["ticket_id"]
        assert_error(alice.scan(ticket), 403, "phone_required")
        assert alice.share_phone("phone-13800000000").get_json()["user"]["needs_phone"] is False
        assert alice.scan(ticket).status_code == 200 and alice.confirm(ticket).status_code == 200
        assert browser.get(f"/api/tickets/{ticket}").get_json()["status"] == "confirmed"
