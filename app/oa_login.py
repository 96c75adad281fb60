"""Logging in by following the Official Account (QR_MODE=official_account).

    PC     POST /api/tickets --> qrcode/create(scene = ticket id, expire = ticket TTL) --> QR of WeChat's url
    phone  WeChat's camera reads it: a new follower follows, and WeChat pushes `subscribe` with
           EventKey qrscene_<id>; a follower's scan pushes `SCAN` with EventKey <id>
    us     callback: a retry is recognised (one conditional insert) and answered the same
           --> tickets.scan(the openid's user) --> passive reply: where the PC is, and a confirm link
    phone  confirm page (user/info gives the unionid) --> Confirm --> tickets.confirm --> the PC's poll logs in
    (OA_SCAN_CONFIRMS=1: the scan confirms at once, and the reply says so)

The callback never calls WeChat: it must answer within WeChat's 5 seconds, and a
retried event changes nothing. The confirm link is for that follower and that ticket:
its secret is an HMAC of the event under SECRET_KEY (so a retry carries the same link),
stored only hashed, dies with the QR and is used once (one conditional UPDATE).
"""
import base64
import hashlib
import hmac
import logging
import secrets

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from . import access, clock, errors, oa_messages, tickets, users, wechat
from .extensions import db
from .models import OaConfirmLink, OaEvent, Ticket, User
from .provider import pending
from .security import hash_secret

log = logging.getLogger(__name__)

SCENE_PREFIX = "qrscene_"  # a new follower's EventKey
DEV_ACCOUNT = "gh_development"  # the account's id in development messages

# What the person reads in their chat with the account, in both languages (WeChat does not say theirs).
REPLIES = {
    "link": "有电脑请求以你的身份登录 / A computer wants to log in as you\n"
            "IP: {ip}\n浏览器 / Browser: {browser}\n时间 / Time: {time}\n"
            "确认或取消 / Confirm or cancel: {url}",
    "confirmed": "电脑已登录 / The computer is logged in as you\nIP: {ip}\n浏览器 / Browser: {browser}",
    "expired": "登录二维码已过期，请在电脑上刷新 / This login code has expired; get a new one on the computer.",
    "taken": "此登录二维码已被他人扫描 / Someone else has already scanned this login code.",
    "finished": "此登录二维码已使用 / This login code has already been used.",
    "denied": "此账号不能登录 {target} / This account may not log in to {target}.",
}
_REFUSALS = {
    errors.TicketNotFound: "expired",  # never ours, or purged long after it expired
    errors.TicketExpired: "expired",
    errors.TicketTaken: "taken",
    errors.TicketCancelled: "finished",
    errors.TicketUsed: "finished",
    errors.InvalidTransition: "finished",  # already confirmed
}


def enabled() -> bool:
    return current_app.config["QR_MODE"] == "official_account"


def crypto() -> oa_messages.Crypto | None:
    """Safe mode's keys (current first, then the previous one while it is rotated), or None in plain mode."""
    cfg = current_app.config
    keys = [k for k in (cfg.get("WECHAT_OA_AES_KEY"), cfg.get("WECHAT_OA_AES_KEY_PREVIOUS")) if k]
    return oa_messages.Crypto(cfg["WECHAT_OA_APPID"], keys) if keys else None


def make_qr(ticket_id: str, base_url: str) -> str:
    """What the ticket's QR encodes: WeChat's parametric QR naming the ticket (nothing secret)."""
    if current_app.config["OA_DEV"]:
        return f"{base_url}/oa/dev/{ticket_id}"  # the development page that plays WeChat
    return wechat.oa_client().qrcode_create(ticket_id, current_app.config["TICKET_TTL_SECONDS"])


# --- the callback ----------------------------------------------------------------

def receive(message: dict[str, str], base_url: str) -> tuple[str, str | None]:
    """Act on one pushed message: (what became of it, the reply's text or None for WeChat's "success")."""
    ticket_id = _scene(message)
    if ticket_id is None:
        return "other", None
    openid, created = message.get("FromUserName", ""), message.get("CreateTime", "")
    if not 0 < len(openid) <= 64 or not created.isdigit() or len(created) > 12:
        raise errors.OaMessageInvalid("A scan event needs FromUserName and CreateTime.")
    # WeChat's retries repeat the message exactly; the scene is in the key too, so two codes
    # scanned by one person within a second are two events.
    key = f"e:{openid}:{created}:{ticket_id}"
    # Before the event's own transaction: creating a user commits (and is harmless to repeat).
    user = users.find_or_create({"provider": "wechat_oa", "appid": current_app.config["WECHAT_OA_APPID"],
                                 "openid": openid, "unionid": None, "nickname": ""})
    if _first_delivery(key):
        outcome = _act(ticket_id, user, key, openid)
        db.session.execute(sa.update(OaEvent).where(OaEvent.key == key)
                           .values(outcome=outcome, ticket_id=ticket_id))
        return outcome, _reply(outcome, ticket_id, key, base_url)
    # WeChat's retry of an event we already acted on
    outcome = db.session.scalar(sa.select(OaEvent.outcome).where(OaEvent.key == key))
    return "retry", _reply(outcome, ticket_id, key, base_url)


def _scene(message: dict[str, str]) -> str | None:
    """The ticket id a subscribe or SCAN event names; None for every other message."""
    if message.get("MsgType") != "event":
        return None
    event, key = message.get("Event", ""), message.get("EventKey", "")
    if event == "subscribe" and key.startswith(SCENE_PREFIX):
        key = key[len(SCENE_PREFIX):]
    elif event != "SCAN":
        return None  # a plain follow, a menu click, an unfollow...
    return key if tickets.well_formed(key) else None  # another QR of the account's, not a login


def _first_delivery(key: str) -> bool:
    """One conditional insert: True for the delivery that got the event's row, False for its retries."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(OaEvent).values(key=key, outcome="", created_at=clock.utcnow()) \
        .on_conflict_do_nothing(index_elements=["key"]).returning(OaEvent.key)
    return db.session.execute(stmt).scalar() is not None


def _act(ticket_id: str, user: User, key: str, openid: str) -> str:
    try:
        ticket = tickets.get(ticket_id)
    except errors.TicketNotFound:
        return "expired"
    # A follower whose unionid is not known yet may turn out to be someone on the access list:
    # the confirm page learns it and decides. Anyone else is decided now.
    settled = user.unionid is not None or current_app.config["OA_DEV"] or current_app.config["OA_SCAN_CONFIRMS"]
    if settled and not _may_log_in(ticket, user, "scan"):
        return "denied"
    try:
        ticket = tickets.scan(ticket_id, user)
    except tuple(_REFUSALS) as exc:
        return _REFUSALS[type(exc)]
    if current_app.config["OA_SCAN_CONFIRMS"]:
        tickets.confirm(ticket_id, user)
        return "confirmed"
    db.session.add(OaConfirmLink(token_hash=hash_secret(_link_secret(key)), ticket_id=ticket_id, openid=openid,
                                 scanned_by_id=user.id, created_at=clock.utcnow(), expires_at=ticket.expires_at))
    return "link"


def _reply(outcome: str, ticket_id: str, key: str, base_url: str) -> str:
    ticket = db.session.get(Ticket, ticket_id) if outcome in ("link", "confirmed", "denied") else None
    if ticket is None:
        return REPLIES.get(outcome, REPLIES["expired"])
    if outcome == "denied":
        app = pending.app_for_ticket(ticket)
        return REPLIES["denied"].format(target=app.name if app else access.site_name())
    return REPLIES[outcome].format(ip=ticket.pc_ip or "?", browser=browser_label(ticket.pc_user_agent),
                                   time=ticket.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                                   url=f"{base_url}/oa/confirm/{_link_secret(key)}")


def _link_secret(key: str) -> str:
    mac = hmac.new(current_app.config["SECRET_KEY"].encode(), b"oa-confirm-link\0" + key.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def browser_label(user_agent: str) -> str:
    """A short name of the PC's browser for a chat message ("Chrome, Windows"); the page shows it whole."""
    ua = user_agent or ""
    browser = next((name for token, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                                              ("Safari/", "Safari")) if token in ua), None)
    system = next((name for token, name in (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"),
                                             ("iPad", "iOS"), ("Mac OS X", "macOS"), ("Linux", "Linux")) if token in ua),
                  None)
    if browser and system:
        return f"{browser}, {system}"
    return ua[:60] or "?"


# --- the confirm page --------------------------------------------------------------

def open_link(secret: str) -> tuple[Ticket, object]:
    """The live link's ticket and the app it logs in to (None: this site); on the first
    opening, learns who the follower is (user/info). A person who may not log in is
    refused here (errors.AccessDenied) and the ticket ends "denied"."""
    link = _live_link(secret)
    if link.user_id is None:
        _learn_user(link)
    ticket = tickets.get(link.ticket_id)
    _check_access(link, ticket, "confirm_page")
    return ticket, pending.app_for_ticket(ticket)


def _may_log_in(ticket: Ticket, user: User, stage: str, scanner: User | None = None) -> bool:
    """The access policy (and an app's groups) for `user`; a refusal ends the scanner's attempt ("denied")."""
    app = pending.app_for_ticket(ticket)
    try:
        access.check(user, (app.allowed_groups or None) if app else None, stage=stage,
                     target=app.name if app else None)
    except errors.AccessDenied:
        tickets.deny(ticket.id, scanner or user)
        return False
    return True


def _check_access(link: OaConfirmLink, ticket: Ticket, stage: str) -> None:
    who = db.session.get(User, link.user_id or link.scanned_by_id)
    scanner = db.session.get(User, link.scanned_by_id)
    if ticket.status == tickets.SCANNED and not _may_log_in(ticket, who, stage, scanner):
        db.session.commit()  # the ticket stays denied
        app = pending.app_for_ticket(ticket)
        raise errors.AccessDenied(f"This account may not log in to {app.name if app else access.site_name()}.")


def decide(secret: str, ticket_id: str, accept: bool) -> Ticket:
    """Confirm or cancel the link's ticket, using the link up (one conditional UPDATE)."""
    now = clock.utcnow()
    token_hash = _hash(secret)
    used = db.session.execute(
        sa.update(OaConfirmLink)
        .where(OaConfirmLink.token_hash == token_hash, OaConfirmLink.ticket_id == ticket_id,
               OaConfirmLink.used_at.is_(None), OaConfirmLink.expires_at > now)
        .values(used_at=now), execution_options={"synchronize_session": False},
    ).rowcount
    if used != 1:
        _refuse_link(token_hash, ticket_id)
    link = _link(token_hash)
    scanner = db.session.get(User, link.scanned_by_id)
    if accept:
        _check_access(link, tickets.get(ticket_id), "confirm")
        return tickets.confirm(ticket_id, scanner, login_as=link.user_id)
    return tickets.cancel(ticket_id, scanner)


def _live_link(secret: str) -> OaConfirmLink:
    link = _link(_hash(secret))
    if link is None:
        raise errors.OaLinkInvalid()
    _check_live(link)
    return link


def _refuse_link(token_hash: str, ticket_id: str):
    """Why using the link matched no row, as the most specific error."""
    link = _link(token_hash)
    if link is None or link.ticket_id != ticket_id:
        raise errors.OaLinkInvalid()
    _check_live(link)
    raise errors.OaLinkInvalid()


def _link(token_hash: str) -> OaConfirmLink | None:
    return db.session.get(OaConfirmLink, token_hash, populate_existing=True) if token_hash else None


def _check_live(link: OaConfirmLink) -> None:
    if link.used_at is not None:
        raise errors.OaLinkUsed()
    if link.expires_at <= clock.utcnow():
        raise errors.OaLinkExpired()


def _hash(secret: str) -> str:
    well_formed = 0 < len(secret) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in secret)
    return hash_secret(secret) if well_formed else ""


def _learn_user(link: OaConfirmLink) -> None:
    """Who the follower is across the company's apps: their unionid, asked of WeChat outside the callback."""
    unionid = None
    if not current_app.config["OA_DEV"]:
        db.session.commit()  # hold no database connection while WeChat answers
        try:
            unionid = wechat.oa_client().user_info(link.openid)["unionid"]
        except errors.ApiError as exc:  # the login still works, as the scanner
            log.warning("Official Account user_info failed (%s); logging in as the scanner", exc.code)
            return
    user = users.find_or_create({"provider": "wechat_oa", "appid": current_app.config["WECHAT_OA_APPID"],
                                 "openid": link.openid, "unionid": unionid, "nickname": ""})
    if unionid and user.unionid != unionid:
        # The unionid already belongs to the person's user from another app (the mini-program):
        # the login is that user, not the one this follow created a moment ago.
        user = db.session.scalar(sa.select(User).where(User.unionid == unionid)) or user
    db.session.execute(
        sa.update(OaConfirmLink).where(OaConfirmLink.token_hash == link.token_hash, OaConfirmLink.user_id.is_(None))
        .values(user_id=user.id), execution_options={"synchronize_session": False},
    )
    link.user_id = user.id


# --- development: a page plays WeChat -------------------------------------------------

def development_push(ticket_id: str, name: str, following: bool) -> tuple[dict, bytes]:
    """(query, XML body) of the event WeChat would push when `name` scans the ticket's QR."""
    now = int(clock.utcnow().timestamp())
    openid = f"dev:{name}"
    message = {"ToUserName": DEV_ACCOUNT, "FromUserName": openid, "CreateTime": now, "MsgType": "event",
               "Event": "SCAN" if following else "subscribe",
               "EventKey": ticket_id if following else SCENE_PREFIX + ticket_id, "Ticket": "development"}
    query = oa_messages.signed_query(current_app.config["WECHAT_OA_TOKEN"], now, secrets.token_hex(8),
                                     openid=openid)
    return query, oa_messages.render(message)
