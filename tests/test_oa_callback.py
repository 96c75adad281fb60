"""The Official Account's callback: WeChat's pushes, checked before they are read, acted on once.

Pushes are made by the fake WeChat exactly as WeChat makes them; safe mode is encrypted
with wechatpy's implementation, and our replies are opened with it, so our crypto is
checked against an independent one, not only against itself.
"""
import base64
import re
import struct
import time

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
import xmltodict
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from app import create_app, errors, oa_messages
from app.extensions import db
from app.models import OaConfirmLink, OaEvent, Ticket

from .support.apps import official_account, serve
from .support.fake_wechat import OA_AES_KEY, OA_AES_KEY_OLD, OA_APPID, OA_TOKEN, FakeWeChat, sha1_sorted

CALLBACK = "/api/oa/callback"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def new_ticket(app):
    browser = app.test_client()
    response = browser.post("/api/tickets")
    assert response.status_code == 201, response.get_json()
    return browser, response.get_json()["ticket_id"]


def deliver(app, xml: bytes, **options):
    """WeChat's delivery of `xml` to the app's callback."""
    push = FakeWeChat.push_request(xml, **options)
    return app.test_client().post(CALLBACK, query_string=push.query, data=push.body, headers=push.headers)


def status_of(browser, ticket_id):
    return browser.get(f"/api/tickets/{ticket_id}").get_json()["status"]


def reply_of(response, safe: bool) -> dict:
    """The passive reply as the person's WeChat shows it (opened with wechatpy in safe mode)."""
    assert response.status_code == 200
    xml = response.data
    if safe:
        outer = xmltodict.parse(xml)["xml"]
        xml = WeChatCrypto(OA_TOKEN, OA_AES_KEY, OA_APPID).decrypt_message(
            xml, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    return xmltodict.parse(xml)["xml"]


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


@pytest.fixture(params=["plain", "safe"])
def mode_app(request, config, wechat):
    """The service in plain mode and in safe mode (encrypted pushes and replies)."""
    for app in serve(create_app(official_account(config, safe=request.param == "safe"))):
        app.safe = request.param == "safe"
        yield app


# --- the console's URL check --------------------------------------------------------

def test_console_check_gets_its_echostr_back_when_signed(oa_app):
    push = FakeWeChat.push_request(b"")
    response = oa_app.test_client().get(CALLBACK, query_string={**push.query, "echostr": "5837397520665436492"})
    assert response.status_code == 200
    assert response.data == b"5837397520665436492"


def test_console_check_with_a_wrong_token_gets_403_and_no_echostr(oa_app):
    push = FakeWeChat.push_request(b"", token="someoneelse")
    response = oa_app.test_client().get(CALLBACK, query_string={**push.query, "echostr": "5837397520665436492"})
    assert response.status_code == 403
    assert error_code(response) == "oa_signature_invalid"
    assert b"5837397520665436492" not in response.data


def test_callback_is_absent_unless_the_official_account_is_the_mode(app):
    push = FakeWeChat.push_request(b"")
    assert app.test_client().get(CALLBACK, query_string={**push.query, "echostr": "x"}).status_code == 404


# --- scans -----------------------------------------------------------------------------

@pytest.mark.parametrize("following", [False, True], ids=["subscribe", "SCAN"])
def test_scan_event_marks_the_ticket_scanned_and_replies_with_a_confirm_link(mode_app, wechat, following):
    browser, ticket_id = new_ticket(mode_app)
    calls_before = len(wechat.calls)
    response = deliver(mode_app, FakeWeChat.event(OPENID, ticket_id, following=following), safe=mode_app.safe,
                       openid=OPENID)
    reply = reply_of(response, mode_app.safe)
    assert reply["ToUserName"] == OPENID
    assert reply["MsgType"] == "text"
    assert "A computer wants to log in as you" in reply["Content"]
    assert "http://localhost/oa/confirm/" in reply["Content"]
    assert "IP: 127.0.0.1" in reply["Content"]
    assert status_of(browser, ticket_id) == "scanned"
    assert len(wechat.calls) == calls_before  # the callback never calls WeChat


def test_our_encryption_is_what_wechatpy_reads_for_every_length(oa_safe_app):
    crypto = oa_messages.Crypto(OA_APPID, [OA_AES_KEY])
    key = base64.b64decode(OA_AES_KEY + "=")
    for size in range(0, 70):
        xml = b"<xml>" + b"x" * size + b"</xml>"
        encrypted = crypto.encrypt(xml)
        assert PrpCrypto(key).decrypt(encrypted, OA_APPID) == xml.decode()
        raw = base64.b64decode(encrypted)
        plain = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor().update(raw)
        pad = plain[-1]
        # PKCS#7 to WeChat's 32-byte blocks: 1..32 bytes of padding, each equal to its count.
        assert len(plain) % 32 == 0 and 1 <= pad <= 32 and plain[-pad:] == bytes([pad]) * pad
        assert struct.unpack(">I", plain[16:20])[0] == len(xml)


def test_wechatpy_encrypted_messages_open_with_ours():
    crypto = oa_messages.Crypto(OA_APPID, [OA_AES_KEY])
    key = base64.b64decode(OA_AES_KEY + "=")
    for text in ("<xml/>", "<xml><Content><![CDATA[你好 🙂]]></Content></xml>", "<xml>" + "y" * 300 + "</xml>"):
        assert crypto.decrypt(PrpCrypto(key).encrypt(text, OA_APPID).decode()) == text.encode()


# --- refusals, before anything is read -------------------------------------------------

def test_push_with_a_bad_signature_changes_nothing(mode_app):
    browser, ticket_id = new_ticket(mode_app)
    response = deliver(mode_app, FakeWeChat.event(OPENID, ticket_id), safe=mode_app.safe, token="forgedtoken")
    assert response.status_code == 403
    assert error_code(response) == "oa_signature_invalid"
    assert status_of(browser, ticket_id) == "pending"


def test_safe_mode_push_with_a_bad_msg_signature_changes_nothing(oa_safe_app):
    browser, ticket_id = new_ticket(oa_safe_app)
    push = FakeWeChat.push_request(FakeWeChat.event(OPENID, ticket_id), safe=True)
    query = {**push.query, "msg_signature": sha1_sorted(OA_TOKEN, "1", "2", "3")}
    response = oa_safe_app.test_client().post(CALLBACK, query_string=query, data=push.body, headers=push.headers)
    assert response.status_code == 403
    assert error_code(response) == "oa_signature_invalid"
    assert status_of(browser, ticket_id) == "pending"


@pytest.mark.parametrize("skew", [-301, 301])
def test_push_more_than_five_minutes_off_is_refused(mode_app, skew):
    browser, ticket_id = new_ticket(mode_app)
    response = deliver(mode_app, FakeWeChat.event(OPENID, ticket_id), safe=mode_app.safe,
                       timestamp=int(time.time()) + skew)
    assert response.status_code == 403
    assert error_code(response) == "oa_timestamp_stale"
    assert status_of(browser, ticket_id) == "pending"


def test_a_captured_push_replayed_later_is_refused(oa_app, clock):
    browser, ticket_id = new_ticket(oa_app)
    captured = FakeWeChat.push_request(FakeWeChat.event(OPENID, ticket_id))
    clock.advance(301)
    response = oa_app.test_client().post(CALLBACK, query_string=captured.query, data=captured.body,
                                         headers=captured.headers)
    assert response.status_code == 403
    assert error_code(response) == "oa_timestamp_stale"


def test_safe_mode_refuses_plain_pushes(oa_safe_app):
    # A plain push's body is covered by no signature; in safe mode only encrypted ones count.
    browser, ticket_id = new_ticket(oa_safe_app)
    response = deliver(oa_safe_app, FakeWeChat.event(OPENID, ticket_id), safe=False)
    assert response.status_code == 400
    assert error_code(response) == "oa_message_invalid"
    assert status_of(browser, ticket_id) == "pending"


def test_push_sealed_for_another_app_id_is_refused(oa_safe_app):
    browser, ticket_id = new_ticket(oa_safe_app)
    response = deliver(oa_safe_app, FakeWeChat.event(OPENID, ticket_id), safe=True, appid="wx-another-app")
    assert response.status_code == 403
    assert error_code(response) == "oa_wrong_appid"
    assert status_of(browser, ticket_id) == "pending"


def test_push_sealed_with_an_unknown_key_is_refused(oa_safe_app):
    browser, ticket_id = new_ticket(oa_safe_app)
    response = deliver(oa_safe_app, FakeWeChat.event(OPENID, ticket_id), safe=True, aes_key=OA_AES_KEY_OLD)
    assert response.status_code == 400
    assert error_code(response) == "oa_decryption_failed"
    assert status_of(browser, ticket_id) == "pending"


def test_previous_aes_key_still_opens_pushes_while_it_is_rotated(config, wechat):
    settings = official_account(config, safe=True, WECHAT_OA_AES_KEY_PREVIOUS=OA_AES_KEY_OLD)
    for app in serve(create_app(settings)):
        browser, ticket_id = new_ticket(app)
        response = deliver(app, FakeWeChat.event(OPENID, ticket_id), safe=True, aes_key=OA_AES_KEY_OLD)
        # The reply is sealed with the new key (reply_of opens it with OA_AES_KEY).
        assert "oa/confirm/" in reply_of(response, safe=True)["Content"]
        assert status_of(browser, ticket_id) == "scanned"


def test_oversized_push_is_refused_unread(oa_app):
    browser, ticket_id = new_ticket(oa_app)
    padding = b"<Padding>" + b"x" * 9000 + b"</Padding>"
    response = deliver(oa_app, FakeWeChat.event(OPENID, ticket_id).replace(b"</xml>", padding + b"</xml>"))
    assert response.status_code == 413
    assert status_of(browser, ticket_id) == "pending"


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
                  b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
                  b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>')
EXTERNAL_ENTITY = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize("prolog, field", [(BILLION_LAUGHS, b"&e;"), (EXTERNAL_ENTITY, b"&x;"),
                                           (b"<!DOCTYPE xml>", b"")], ids=["entity-expansion", "external-entity",
                                                                           "doctype"])
def test_xml_with_a_doctype_or_entities_is_refused(mode_app, prolog, field):
    browser, ticket_id = new_ticket(mode_app)
    xml = prolog + FakeWeChat.event(OPENID, ticket_id).replace(b"<Ticket>", b"<Note>" + field + b"</Note><Ticket>")
    response = deliver(mode_app, xml, safe=mode_app.safe)
    assert response.status_code == 400
    assert error_code(response) == "oa_message_invalid"
    assert status_of(browser, ticket_id) == "pending"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<xml><a><b>nested</b></a></xml>", b"<other/>"])
def test_malformed_pushes_are_refused(oa_app, body):
    response = deliver(oa_app, body)
    assert response.status_code == 400
    assert error_code(response) == "oa_message_invalid"


# --- retries, unknown and expired codes, other messages --------------------------------------

def test_wechat_retry_of_an_event_changes_nothing_and_gets_the_same_answer(mode_app):
    browser, ticket_id = new_ticket(mode_app)
    event = FakeWeChat.event(OPENID, ticket_id, create_time=int(time.time()))
    first = reply_of(deliver(mode_app, event, safe=mode_app.safe), mode_app.safe)
    with mode_app.app_context():
        updated = db.session.scalar(sa.select(Ticket.updated_at).where(Ticket.id == ticket_id))
    again = [reply_of(deliver(mode_app, event, safe=mode_app.safe), mode_app.safe) for _ in range(2)]
    assert [r["Content"] for r in again] == [first["Content"]] * 2
    with mode_app.app_context():
        assert db.session.scalar(sa.select(Ticket.updated_at).where(Ticket.id == ticket_id)) == updated
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OaEvent)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OaConfirmLink)) == 1
    assert status_of(browser, ticket_id) == "scanned"


def test_someone_elses_scan_of_a_scanned_code_is_told_so(oa_app):
    browser, ticket_id = new_ticket(oa_app)
    deliver(oa_app, FakeWeChat.event(OPENID, ticket_id))
    reply = reply_of(deliver(oa_app, FakeWeChat.event("o-somebody-else", ticket_id)), safe=False)
    assert "Someone else has already scanned" in reply["Content"]
    assert "oa/confirm" not in reply["Content"]


def test_event_for_an_unknown_code_is_told_it_expired(oa_app):
    reply = reply_of(deliver(oa_app, FakeWeChat.event(OPENID, "AAAAAAAAAAAAAAAAAAAAAA")), safe=False)
    assert "This login code has expired" in reply["Content"]
    with oa_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OaConfirmLink)) == 0


@pytest.mark.parametrize("scene", ["spring-campaign!", "x" * 64])
def test_scans_of_the_accounts_other_qr_codes_are_left_alone(oa_app, scene):
    response = deliver(oa_app, FakeWeChat.event(OPENID, scene))
    assert response.data == b"success"
    with oa_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OaEvent)) == 0


def test_event_for_an_expired_code_is_told_so_and_scans_nothing(oa_app, clock):
    browser, ticket_id = new_ticket(oa_app)
    clock.advance(121)
    reply = reply_of(deliver(oa_app, FakeWeChat.event(OPENID, ticket_id, create_time=int(time.time()) + 121),
                             timestamp=int(time.time()) + 121), safe=False)
    assert "This login code has expired" in reply["Content"]
    assert status_of(browser, ticket_id) == "expired"


@pytest.mark.parametrize("xml", [
    b"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>"
    b"<CreateTime>1795430000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>"
    b"<MsgId>23456789012345678</MsgId></xml>",
    b"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>"
    b"<CreateTime>1795430000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event>"
    b"<EventKey><![CDATA[]]></EventKey></xml>",
    b"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>"
    b"<CreateTime>1795430000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
    b"<EventKey><![CDATA[]]></EventKey></xml>",
], ids=["text-message", "unfollow", "plain-follow"])
def test_other_messages_get_success(mode_app, xml):
    response = deliver(mode_app, xml, safe=mode_app.safe)
    assert response.status_code == 200
    assert response.data == b"success"


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_any_body_is_parsed_or_refused_with_our_error(body):
    try:
        fields = oa_messages.parse(body)
    except errors.OaMessageInvalid:
        return
    assert isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values())


@given(st.binary(min_size=1, max_size=300).map(lambda raw: base64.b64encode(raw).decode()) | st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_ciphertext_opens_or_is_refused_with_our_error(encrypted):
    try:
        oa_messages.Crypto(OA_APPID, [OA_AES_KEY]).decrypt(encrypted)
    except (errors.OaDecryptionFailed, errors.OaWrongAppId):
        pass


def test_pushes_are_counted_by_what_became_of_them(oa_app):
    def counts():
        text = oa_app.test_client().get("/metrics").get_data(as_text=True)
        found = re.findall(r'^qrlogin_oa_pushes_total\{outcome="(\w+)"\} ([0-9.]+)$', text, re.M)
        return {outcome: float(value) for outcome, value in found}

    before = counts()
    _, ticket_id = new_ticket(oa_app)
    event = FakeWeChat.event(OPENID, ticket_id, create_time=int(time.time()))
    deliver(oa_app, event)
    deliver(oa_app, event)
    deliver(oa_app, event, token="forgedtoken")
    after = counts()
    for outcome in ("link", "retry", "oa_signature_invalid"):
        assert after[outcome] - before.get(outcome, 0) == 1, outcome
