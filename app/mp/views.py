"""Mini-program endpoints. The user is only ever the one named by the bearer token."""
from flask import current_app, g, jsonify, request

from .. import access, auth, errors, metrics, tickets, users, wechat
from ..extensions import db
from ..inputs import client_ip, json_body, text_field
from ..models import User, isoformat
from ..provider import pending
from . import bp

DEV_PREFIX = "dev:"
DEV_PHONE_PREFIX = "dev-phone:"


@bp.before_request
def bodies_are_json():
    # Any body must be JSON: a cross-site HTML form cannot send that.
    if request.method in ("POST", "PATCH", "PUT") and request.content_length and not request.is_json:
        raise errors.UnsupportedMediaType()


@bp.post("/login")
def login():
    code = text_field(json_body(), "code", max_len=128)
    if code.startswith(DEV_PREFIX):
        if not current_app.config["DEV_LOGIN"]:
            raise errors.DevLoginDisabled()
        name = code[len(DEV_PREFIX):].strip()
        if not 1 <= len(name) <= 32:
            raise errors.InvalidRequest("A development code is 'dev:<name>' with a name of 1 to 32 characters.")
        identity = {"provider": "dev", "appid": "", "openid": DEV_PREFIX + name, "nickname": name}
    elif current_app.config["DEV_LOGIN"]:
        raise errors.InvalidRequest("WeChat sign-in is not configured here; use a 'dev:<name>' code.")
    elif not current_app.config["WECHAT_APPID"]:  # people log in through the Official Account only
        raise errors.InvalidRequest("This service has no mini-program (WECHAT_APPID is not set).")
    else:
        found = wechat.client().code_to_session(code)
        identity = {"provider": "wechat_mp", "appid": current_app.config["WECHAT_APPID"], **found}
    user = users.find_or_create(identity)
    token, expires_in = auth.issue_mp_token(user)
    metrics.mp_login()
    return jsonify({"token": token, "expires_in": expires_in, "user": _own_profile(user)})


@bp.post("/logout")
@auth.mp_login_required
def logout():
    """Sign this user's mini-program out (every token issued so far); `everywhere` ends their PC sessions too."""
    data = json_body() if request.content_length else {}
    everywhere = data.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise errors.InvalidRequest("'everywhere' must be true or false.")
    if everywhere:
        ended = auth.end_all_sessions(g.mp_user.id)
    else:
        auth.revoke_mp_tokens(g.mp_user.id)
        ended = 0
    db.session.commit()
    return jsonify({"logged_out": True, "pc_sessions_ended": ended})


@bp.get("/me")
@auth.mp_login_required
def me():
    return jsonify({"user": _own_profile(g.mp_user)})


# POST too: wx.request cannot send PATCH.
@bp.route("/me", methods=["PATCH", "POST"])
@auth.mp_login_required
def update_me():
    data = json_body()
    user = users.update_profile(g.mp_user, nickname=text_field(data, "nickname", max_len=64, required=False),
                                avatar_url=text_field(data, "avatar_url", max_len=512, required=False),
                                avatar_hosts=current_app.config["AVATAR_HOSTS"])
    db.session.commit()
    return jsonify({"user": _own_profile(user)})


@bp.post("/phone")
@auth.mp_login_required
def phone():
    """Store the user's WeChat-verified phone number, from a getPhoneNumber button's code.

    Each check is a paid WeChat call: a number already known is never asked for
    again (the answer is the stored one), and PHONE_RATE_LIMIT bounds the tries."""
    code = text_field(json_body(), "code", max_len=128)
    user = g.mp_user
    if user.phone is None:
        users.set_verified_phone(user, _verified_phone(code, user))
        db.session.commit()
    return jsonify({"user": _own_profile(user)})


def _verified_phone(code: str, user: User) -> str:
    cfg = current_app.config
    try:
        if code.startswith(DEV_PHONE_PREFIX):
            if not cfg["DEV_LOGIN"]:
                raise errors.DevLoginDisabled()
            number = users.normalize_phone(code[len(DEV_PHONE_PREFIX):])
            result = "development"
        elif cfg["DEV_LOGIN"]:
            raise errors.InvalidRequest("WeChat is not configured here; use a 'dev-phone:+8613800000000' code.")
        else:
            openid = users.openid_of(user, "wechat_mp", cfg["WECHAT_APPID"])
            number = wechat.client().phone_number(code, openid)
            result = "verified"
    except errors.ApiError as exc:
        metrics.phone_check(exc.code)
        raise
    metrics.phone_check(result)
    return number


@bp.post("/tickets/<ticket_id>/scan")
@auth.mp_login_required
def scan(ticket_id):
    app = _may_log_in(ticket_id, "scan")
    ticket = tickets.scan(ticket_id, g.mp_user)
    db.session.commit()
    phone_ip = client_ip()
    body = {
        "ticket_id": ticket.id,
        "status": ticket.status,
        "expires_in": ticket.seconds_left(),
        # Where the login will happen, so the person can spot a code shown to
        # them by someone else (QRLJacking).
        "pc": {
            "ip": ticket.pc_ip,
            "user_agent": ticket.pc_user_agent,
            "created_at": isoformat(ticket.created_at),
            "ip_differs": bool(ticket.pc_ip and phone_ip and ticket.pc_ip != phone_ip),
        },
    }
    if app is not None:
        # The login is for another app: the confirm screen says "Log in to <name>", and for an
        # app that is not first-party also what it will learn.
        body["app"] = {"name": app.name, "trusted": app.trusted}
    return jsonify(body)


@bp.post("/tickets/<ticket_id>/confirm")
@auth.mp_login_required
def confirm(ticket_id):
    _may_log_in(ticket_id, "confirm")
    ticket = tickets.confirm(ticket_id, g.mp_user)
    db.session.commit()
    return jsonify({"ticket_id": ticket.id, "status": ticket.status})


@bp.post("/tickets/<ticket_id>/cancel")
@auth.mp_login_required
def cancel(ticket_id):
    ticket = tickets.cancel(ticket_id, g.mp_user)
    db.session.commit()
    return jsonify({"ticket_id": ticket.id, "status": ticket.status})


@bp.get("/sessions")
@auth.mp_login_required
def sessions():
    """The computers this user is logged in on, so a forgotten one can be ended."""
    rows = auth.live_sessions(g.mp_user.id)
    db.session.commit()
    return jsonify({"sessions": [row.to_dict() for row in rows]})


@bp.delete("/sessions/<int:session_id>")
@auth.mp_login_required
def end_session(session_id):
    # Someone else's session answers exactly like an unknown one.
    if not auth.end_user_session(g.mp_user.id, session_id):
        raise errors.SessionNotFound()
    db.session.commit()
    return jsonify({"id": session_id, "ended": True})


def _may_log_in(ticket_id: str, stage: str):
    """Refuse a person who may not log in: at once, on the phone, and on the PC (status "denied").

    A login for another app (OpenID Connect) also needs that app's groups. Returns the app, if any.
    """
    user = g.mp_user
    if stage == "scan" and access.needs_phone(user):  # the ticket waits while they share their number
        raise errors.PhoneRequired()
    app = pending.app_for_ticket(tickets.get(ticket_id))
    try:
        if app is None:
            access.check(user, stage=stage)
        else:
            access.check(user, app.allowed_groups or None, stage=stage, target=app.name)
    except errors.AccessDenied:
        if tickets.deny(ticket_id, user):
            db.session.commit()
        raise
    return app


def _own_profile(user: User) -> dict:
    """What the mini-program shows its own user: their profile, their number, whether to ask for it."""
    return {**user.to_dict(), "phone": user.phone, "needs_phone": access.needs_phone(user)}
