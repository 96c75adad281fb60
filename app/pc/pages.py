"""HTML pages: the PC login page, the home page, and the page a phone opens from the QR."""
from flask import current_app, render_template, request, send_from_directory, url_for

from .. import auth, errors, tickets
from ..extensions import db
from ..provider import pending
from . import bp, branding
from .i18n import login_texts, texts


@bp.app_context_processor
def words_and_look():
    t = texts()
    return {"t": t, "brand": branding.current(t)}


@bp.get("/brand.css")
def brand_css():
    response = current_app.response_class(branding.stylesheet(), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico on their own; the pages also name the SVG in a <link>.
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


def safe_next(value: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative //, no backslashes."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value) or len(value) > 512:
        return "/"
    return value


def after_login(args) -> str:
    """Where the login page sends the browser: `rd` on a protected site, else a local `next`, else /."""
    if args.get("rd"):
        return current_app.config["PROTECTED_SITES"].return_url(args["rd"]) or safe_next(args["rd"])
    return safe_next(args.get("next"))


@bp.get("/")
def index():
    login = auth.current_session()
    db.session.commit()
    return render_template("index.html", login=login,
                           started=_readable(login.created_at) if login else None)


@bp.get("/logout")
def logout_page():
    """The page a protected site links to as its "log out": one button ends access to every site."""
    login = auth.current_session()
    db.session.commit()
    return render_template("index.html", t=texts(), login=login, logout_page=True,
                           started=_readable(login.created_at) if login else None)


def _readable(moment) -> str:
    """A time a person reads at a glance (the raw ISO form showed seconds and a 'T')."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@bp.get("/login")
def login_page():
    t = login_texts(current_app.config["QR_MODE"] == "official_account")
    row = pending.find(request.args.get("authorize"), auth.browser_hash())
    db.session.commit()
    if row is None:
        return render_template("login.html", t=t, next_url=after_login(request.args))
    # Logging in for another app: the page names it and comes back to finish its request.
    return render_template("login.html", t=t, next_url=url_for("oidc.resume", request_id=row.id),
                           authorize=row.id, app_name=row.client.name)


@bp.get("/qr/<ticket_id>")
def phone_page(ticket_id):
    # What a phone's browser shows when it opens the QR's URL. In development
    # login mode it is a stand-in for the mini-program; otherwise it points there.
    # A code that is already used, cancelled or expired says so instead of offering sign-in.
    try:
        status = tickets.get(ticket_id).status
    except errors.TicketNotFound:
        status = "not_found"
    db.session.commit()  # keeps a lazy expiry
    finished = status not in (tickets.PENDING, tickets.SCANNED)
    return render_template("phone.html", ticket_id=ticket_id, dev_login=current_app.config["DEV_LOGIN"],
                           finished=texts()["phone_states"].get(status) if finished else None)
