"""PC browser API: create a login ticket, long-poll it, read and end the session."""
from flask import current_app, jsonify, make_response, request

from .. import auth, errors, longpoll, tickets
from ..extensions import db
from ..inputs import (choice_arg, client_ip, client_key, json_body, number_arg, same_site_only, text_field,
                      user_agent)
from ..provider import pending
from . import bp, qrcodes


# Why a ticket has no image any more.
_FINISHED = {tickets.EXPIRED: errors.TicketExpired, tickets.CANCELLED: errors.TicketCancelled}


@bp.post("/api/tickets")
def create_ticket():
    same_site_only()  # another site's form must not mint codes in this browser's name
    cfg = current_app.config
    secret, browser_hash = auth.browser_binding()
    oidc_request_id = _authorization_request(browser_hash)
    ticket_id, qr_url = qrcodes.made_by_wechat()
    ticket = tickets.create(browser_hash, client_ip(), user_agent(), pc_net=client_key(),
                            max_per_browser=cfg["MAX_OPEN_TICKETS_PER_BROWSER"],
                            max_per_net=cfg["MAX_OPEN_TICKETS_PER_ADDRESS"],
                            ticket_id=ticket_id, qr_url=qr_url, oidc_request_id=oidc_request_id)
    db.session.commit()
    body = {**ticket.to_dict(), **qrcodes.for_new_ticket(ticket),
            "poll_max_wait": current_app.config["POLL_MAX_WAIT_SECONDS"]}
    response = make_response(jsonify(body), 201)
    auth.set_bind_cookie(response, secret)
    return response


def _authorization_request(browser_hash: str) -> str | None:
    """The id of this browser's pending OpenID Connect request the login is for, if the page names one."""
    if not request.content_length:
        return None
    request_id = text_field(json_body(), "authorization_request", max_len=32, required=False)
    if request_id is None:
        return None
    row = pending.find(request_id, browser_hash)
    if row is None:
        raise errors.InvalidRequest("'authorization_request' names no pending login request of this browser.")
    return row.id


@bp.get("/api/tickets/<ticket_id>/qr.<kind>")
def ticket_qr(ticket_id, kind):
    if kind not in ("svg", "png"):
        raise errors.NotFound("QR images are served as qr.svg or qr.png.")
    ticket = tickets.get(ticket_id)
    # Only the page that shows the code gets its image, and only while it can be
    # scanned: nobody else can farm live codes or keep drawing old ones (in wxacode
    # mode each image is a call to WeChat).
    auth.check_bound(ticket.browser_hash)
    db.session.commit()
    if ticket.status not in tickets.OPEN:
        raise _FINISHED.get(ticket.status, errors.TicketUsed)()
    image, mimetype = qrcodes.image(ticket, kind)
    response = current_app.response_class(image, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/api/tickets/<ticket_id>/cancel")
def drop_ticket(ticket_id):
    """The page drops its code ("not you? get a new code"); then it asks for a fresh one."""
    same_site_only()
    browser_hash = auth.browser_hash()
    if browser_hash is None:
        raise errors.NotBoundBrowser()
    ticket = tickets.drop(ticket_id, browser_hash)
    db.session.commit()
    return jsonify(ticket.to_dict())


@bp.get("/api/tickets/<ticket_id>")
def poll_ticket(ticket_id):
    """Answer the ticket's state; with `since` equal to it, wait up to `wait` seconds for a change."""
    wait = number_arg("wait", default=0, low=0, high=current_app.config["POLL_MAX_WAIT_SECONDS"])
    since = choice_arg("since", tickets.STATUSES)
    ticket = tickets.get(ticket_id)
    auth.check_bound(ticket.browser_hash)
    db.session.commit()  # keeps a lazy expiry; frees the connection before waiting
    body, token = longpoll.answer(ticket, since, wait)
    response = jsonify(body)
    if token is not None:
        auth.set_login_cookie(response, token)
    return response


@bp.get("/api/me")
def me():
    login = auth.current_session()
    db.session.commit()
    if login is None:
        raise errors.NotAuthenticated()
    return jsonify({"user": login.user.to_dict(), "session": login.to_dict()})


@bp.post("/api/logout")
def logout():
    """End this browser's session; with {"everywhere": true} every session and mini-program token of the user."""
    # A JSON content type cannot be sent cross-site without a CORS preflight,
    # so another site cannot log the user out with a hidden form.
    everywhere = json_body().get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise errors.InvalidRequest("'everywhere' must be true or false.")
    login = auth.current_session()
    if login is not None and everywhere:
        auth.end_all_sessions(login.user_id)
    elif login is not None:
        auth.end_session(login)
    db.session.commit()
    response = jsonify({"logged_out": login is not None})
    auth.clear_login_cookie(response)
    return response
