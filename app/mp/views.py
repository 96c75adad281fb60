"""Mini-program endpoints. The user is only ever the one named by the bearer token."""
from flask import current_app, g, jsonify, request

from .. import auth, errors, metrics, tickets, users, wechat
from ..extensions import db
from ..inputs import client_ip, json_body, text_field
from ..models import isoformat
from ..provider import pending, people
from . import bp

DEV_PREFIX = "dev:"


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
        identity = {"openid": DEV_PREFIX + name, "unionid": None, "nickname": name}
    elif current_app.config["DEV_LOGIN"]:
        raise errors.InvalidRequest("WeChat sign-in is not configured here; use a 'dev:<name>' code.")
    elif not current_app.config["WECHAT_APPID"]:  # people log in through the Official Account only
        raise errors.InvalidRequest("This service has no mini-program (WECHAT_APPID is not set).")
    else:
        identity = wechat.client().code_to_session(code)
    user = users.find_or_create(identity)
    token, expires_in = auth.issue_mp_token(user)
    metrics.mp_login()
    return jsonify({"token": token, "expires_in": expires_in, "user": user.to_dict()})


@bp.get("/me")
@auth.mp_login_required
def me():
    return jsonify({"user": g.mp_user.to_dict()})


# POST too: wx.request cannot send PATCH.
@bp.route("/me", methods=["PATCH", "POST"])
@auth.mp_login_required
def update_me():
    data = json_body()
    user = users.update_profile(g.mp_user, nickname=text_field(data, "nickname", max_len=32, required=False),
                                avatar_url=text_field(data, "avatar_url", max_len=512, required=False))
    db.session.commit()
    return jsonify({"user": user.to_dict()})


@bp.post("/tickets/<ticket_id>/scan")
@auth.mp_login_required
def scan(ticket_id):
    app = pending.app_for_ticket(tickets.get(ticket_id))
    if app is not None and not people.allowed(g.mp_user, app.allowed_groups):
        raise errors.AppAccessDenied(f"This account may not log in to {app.name}.")
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
