"""WeChat pushes here (GET/POST /api/oa/callback); followers confirm at /oa/confirm/<link>.

In development without an Official Account, /oa/dev/<ticket> plays WeChat's part.
"""
import secrets

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import clock, errors, metrics, oa_login, oa_messages, tickets
from ..extensions import db
from ..inputs import client_ip, json_body, public_base_url, text_field
from ..models import isoformat
from ..pc.i18n import texts
from . import bp


@bp.before_request
def only_in_official_account_mode():
    if not oa_login.enabled():
        raise errors.NotFound()


@bp.route("/api/oa/callback", methods=["GET", "POST"])
def callback():
    cfg = current_app.config
    token = cfg["WECHAT_OA_TOKEN"]
    if request.method == "GET":  # the console checks the URL: echo its random string
        oa_messages.check_query(token, request.args, clock.utcnow())
        echostr = request.args.get("echostr", "")
        if not 0 < len(echostr) <= 128:
            raise errors.InvalidRequest("'echostr' is required.")
        return current_app.response_class(echostr, mimetype="text/plain")
    crypto = oa_login.crypto()
    try:
        oa_messages.check_query(token, request.args, clock.utcnow())  # before a byte of the body is parsed
        body = request.get_data()  # already read, within MAX_CONTENT_LENGTH (inputs.read_body_first)
        if len(body) > oa_messages.MAX_BODY_BYTES:  # WeChat's pushes are a few hundred bytes
            raise RequestEntityTooLarge()
        message = oa_messages.unwrap(token, crypto, request.args, body)
        outcome, text = oa_login.receive(message, public_base_url())
        db.session.commit()
    except errors.ApiError as exc:  # counted, so a wrong token or key shows on the dashboard
        metrics.oa_push(exc.code)
        raise
    metrics.oa_push(outcome)
    if text is None:
        return current_app.response_class("success", mimetype="text/plain")
    now = str(int(clock.utcnow().timestamp()))
    reply = oa_messages.text_reply(message, text, int(now))
    if crypto is not None:
        reply = oa_messages.seal(crypto, token, reply, now, secrets.token_hex(8))
    return current_app.response_class(reply, mimetype="application/xml")


@bp.get("/oa/confirm/<secret>")
def confirm_page(secret):
    try:
        ticket, app = oa_login.open_link(secret)
        db.session.commit()
    except errors.ApiError as exc:
        return _refusal(exc)
    if ticket.status != tickets.SCANNED:
        return _refusal(_ticket_state_error(ticket))
    return render_template("oa_confirm.html", t=texts(), secret=secret, ticket=ticket, app=app,
                           created=ticket.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                           created_iso=isoformat(ticket.created_at),
                           ip_differs=bool(ticket.pc_ip and client_ip() and ticket.pc_ip != client_ip()))


@bp.post("/oa/confirm/<secret>")
def decide(secret):
    decision = request.form.get("decision")
    if decision not in ("confirm", "cancel"):
        return _refusal(errors.InvalidRequest("Choose confirm or cancel."))
    try:
        ticket = oa_login.decide(secret, request.form.get("ticket", "")[:64], decision == "confirm")
        db.session.commit()
    except errors.ApiError as exc:
        db.session.rollback()
        return _refusal(exc)
    t = texts()
    done = t["phone_done"] if ticket.status == tickets.CONFIRMED else t["phone_cancelled"]
    return render_template("oa_confirm.html", t=t, done=done, status=ticket.status)


def _ticket_state_error(ticket) -> errors.ApiError:
    return {tickets.EXPIRED: errors.TicketExpired, tickets.CANCELLED: errors.TicketCancelled}.get(
        ticket.status, errors.TicketUsed)()


def _refusal(exc: errors.ApiError):
    """The confirm page, saying why nothing can be done (in the reader's language)."""
    t = texts()
    message = t.get("oa_" + exc.code, exc.message)
    return render_template("oa_confirm.html", t=t, refusal=message, code=exc.code), exc.status


# --- development: this page plays WeChat ----------------------------------------------

@bp.get("/oa/dev/<ticket_id>")
def development_wechat(ticket_id):
    if not current_app.config["OA_DEV"]:
        raise errors.NotFound()
    return render_template("oa_dev.html", t=texts(), ticket_id=ticket_id)


@bp.post("/oa/dev/<ticket_id>/push")
def development_push(ticket_id):
    """The event WeChat would push for this scan, signed as WeChat signs it; the page sends it to the callback."""
    if not current_app.config["OA_DEV"]:
        raise errors.NotFound()
    data = json_body()
    name = text_field(data, "name", max_len=32)
    query, body = oa_login.development_push(ticket_id[:32], name, following=data.get("following") is True)
    return jsonify({"query": query, "body": body.decode()})

