"""PC browser API: create a login ticket, long-poll it, read and end the session."""
import time

from flask import current_app, jsonify, make_response, request, url_for

from .. import auth, clock, errors, metrics, oa_login, qr, tickets, wxacode
from ..extensions import db
from ..inputs import choice_arg, number_arg, public_base_url
from ..models import Ticket, isoformat
from ..security import hash_secret, new_secret, new_ticket_id, secret_matches
from . import bp


@bp.post("/api/tickets")
def create_ticket():
    secret = _browser_secret() or new_secret()
    ticket_id = qr_url = None
    if oa_login.enabled():  # WeChat makes the QR first: a failure leaves no ticket behind
        ticket_id = new_ticket_id()
        qr_url = oa_login.make_qr(ticket_id, public_base_url())
    ticket = tickets.create(hash_secret(secret), auth.client_ip(), auth.user_agent(),
                            max_pending=current_app.config["MAX_PENDING_TICKETS_PER_IP"],
                            ticket_id=ticket_id, qr_url=qr_url)
    db.session.commit()
    body = _ticket_json(ticket)
    body["qr_content"] = qr_content(ticket)
    body["qr_svg_url"] = url_for("web.ticket_qr", ticket_id=ticket.id, kind="svg")
    body["qr_png_url"] = url_for("web.ticket_qr", ticket_id=ticket.id, kind="png")
    if wxacode.enabled():  # the page shows WeChat's mini-program code, fetched by URL
        body["qr_image_url"] = body["qr_png_url"]
    else:  # the image comes with the ticket, so the page needs no second round trip
        body["qr_image_url"] = body["qr_svg_url"]
        body["qr_svg"] = qr.svg(body["qr_content"]).decode()
    body["poll_max_wait"] = current_app.config["POLL_MAX_WAIT_SECONDS"]
    response = make_response(jsonify(body), 201)
    _set_bind_cookie(response, secret)
    return response


@bp.get("/api/tickets/<ticket_id>/qr.<kind>")
def ticket_qr(ticket_id, kind):
    if kind not in ("svg", "png"):
        raise errors.NotFound("QR images are served as qr.svg or qr.png.")
    ticket = tickets.get(ticket_id)
    db.session.commit()
    if kind == "png" and wxacode.enabled():
        image, mimetype = wxacode.image(ticket)
    elif kind == "svg":
        image, mimetype = qr.svg(qr_content(ticket)), "image/svg+xml"
    else:
        image, mimetype = qr.png(qr_content(ticket)), "image/png"
    response = current_app.response_class(image, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/api/tickets/<ticket_id>")
def poll_ticket(ticket_id):
    """Answer the ticket's state; with `since` equal to it, wait up to `wait` seconds for a change."""
    wait = number_arg("wait", default=0, low=0, high=current_app.config["POLL_MAX_WAIT_SECONDS"])
    since = choice_arg("since", tickets.STATUSES)
    ticket = tickets.get(ticket_id)
    secret = _browser_secret()
    if not secret_matches(secret, ticket.browser_hash):
        raise errors.NotBoundBrowser()
    db.session.commit()  # keeps a lazy expiry; frees the connection before waiting
    if since == ticket.status and wait > 0:
        with metrics.waiting_poll():
            ticket = _wait_for_change(ticket, since, wait)
        metrics.poll_woken(ticket, since)
    return _answer(ticket, ticket.browser_hash)  # checked above: this browser's own hash


@bp.get("/api/me")
def me():
    login = auth.current_session()
    db.session.commit()
    if login is None:
        raise errors.NotAuthenticated()
    return jsonify({"user": login.user.to_dict(), "session": login.to_dict()})


@bp.post("/api/logout")
def logout():
    # A JSON content type cannot be sent cross-site without a CORS preflight,
    # so another site cannot log the user out with a hidden form.
    if not request.is_json:
        raise errors.UnsupportedMediaType()
    login = auth.current_session()
    if login is not None:
        auth.end_session(login)
    db.session.commit()
    response = jsonify({"logged_out": login is not None})
    auth.clear_login_cookie(response)
    return response


def qr_content(ticket: Ticket) -> str:
    """The text the QR encodes: a public URL naming the ticket (ours, or WeChat's), nothing secret."""
    return ticket.qr_url or f"{public_base_url()}/qr/{ticket.id}"



def _wait_for_change(ticket: Ticket, since: str, wait: float) -> Ticket:
    hub = current_app.extensions["qrlogin_waiters"]
    deadline = time.monotonic() + wait
    while True:
        ticket_id, version = ticket.id, ticket.updated_at
        remaining = deadline - time.monotonic()
        if ticket.status in tickets.LIVE:
            # Wake exactly when the ticket expires, to report it at once.
            until_expiry = (ticket.expires_at - clock.utcnow()).total_seconds() + 0.01
            remaining = min(remaining, max(until_expiry, 0))
        # Thousands of polls wait at once: hold no database connection, no session
        # and no row objects meanwhile, only the id and the version seen.
        del ticket
        db.session.remove()
        hub.wait(ticket_id, remaining, seen_version=version)
        ticket = tickets.get(ticket_id)
        db.session.commit()
        if ticket.status != since or time.monotonic() >= deadline or hub.closing:
            return ticket


def _answer(ticket: Ticket, browser_hash: str):
    body = _ticket_json(ticket)
    token = None
    if ticket.status == tickets.CONFIRMED:
        if tickets.consume(ticket.id, browser_hash):
            token = auth.start_session(ticket.scanned_by_id, ticket.id)
            db.session.commit()
        else:  # another request from this browser took it a moment ago
            db.session.rollback()
            ticket = tickets.get(ticket.id)
            body = _ticket_json(ticket)
    response = jsonify(body)
    if token is not None:
        auth.set_login_cookie(response, token)
    return response


def _ticket_json(ticket: Ticket) -> dict:
    body = {
        "ticket_id": ticket.id,
        "status": ticket.status,
        "expires_in": tickets.seconds_left(ticket),
        "expires_at": isoformat(ticket.expires_at),
    }
    if ticket.status in (tickets.SCANNED, tickets.CONFIRMED) and ticket.scanned_by is not None:
        # Only what the login page shows; nothing else about the person.
        body["scanned_by"] = {"nickname": ticket.scanned_by.nickname, "avatar_url": ticket.scanned_by.avatar_url}
    return body


def _browser_secret() -> str | None:
    secret = request.cookies.get(current_app.config["BIND_COOKIE_NAME"])
    return secret if secret and len(secret) <= 128 else None


def _set_bind_cookie(response, secret: str) -> None:
    cfg = current_app.config
    # Reused across tabs of one browser, so several open login pages all keep working.
    response.set_cookie(cfg["BIND_COOKIE_NAME"], secret, path="/", secure=cfg["COOKIE_SECURE"],
                        httponly=True, samesite="Lax")
