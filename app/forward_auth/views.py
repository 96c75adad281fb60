"""GET /auth/verify: the subrequest nginx, Caddy and Traefik send before each request to a protected site.

    logged in, allowed for the host  -> 200 + Remote-User, Remote-Name, Remote-Groups, Remote-Phone
    not logged in (nginx)            -> 401 + Location: <login page>?rd=<original URL>
    not logged in, ?mode=redirect    -> 302 to the login page for GET/HEAD; 401 for other methods and JSON
    logged in, not allowed there     -> 403, a small page (or JSON when asked for)

The only write is the session's last_seen_at, at most once a minute (auth.current_session).
"""
from urllib.parse import quote

from flask import current_app, redirect, render_template, request

from .. import access, auth, errors, protected_sites, users
from ..extensions import db
from ..pc.i18n import texts
from . import bp

IDENTITY_HEADERS = ("Remote-User", "Remote-Name", "Remote-Groups", "Remote-Phone")
# Printable ASCII a URL may carry as is; anything else (spaces, raw UTF-8) is percent-encoded.
_URL_SAFE = "".join(chr(c) for c in range(33, 127) if chr(c) not in '"<>\\^`{|}')


@bp.get("/auth/verify")
def verify():
    sites = current_app.config["PROTECTED_SITES"]
    url, method = _original_request()
    parts = protected_sites.parse_url(url)
    if parts is None:
        raise errors.InvalidRequest(
            "Send the original URL: X-Original-URL (nginx), or X-Forwarded-Proto, -Host and -Uri (Caddy, Traefik).")
    if not sites.protects(parts.hostname):
        raise errors.HostNotProtected(f"{parts.hostname} is not one of FORWARD_AUTH_HOSTS.")
    login = auth.current_session()
    db.session.commit()  # ends the read; carries the once-a-minute last_seen_at update, if due
    if login is None:
        return _sign_in_first(url, method)
    user = login.user
    if not access.allowed(user, sites.groups_for(parts.hostname, parts.path) or None):
        return _not_for_you(user, parts.hostname)
    response = current_app.response_class(status=200)
    values = (user.public_id, user.nickname, ",".join(users.groups_of(user)), user.phone or "")
    for name, value in zip(IDENTITY_HEADERS, values):
        # Always sent, empty when unknown: a proxy that copies only present headers
        # would otherwise pass on what the client itself wrote there.
        response.headers[name] = _header_value(value)
    return _uncached(response)


def _original_request() -> tuple[str, str]:
    headers = request.headers
    url = headers.get("X-Original-URL")
    if not url and headers.get("X-Forwarded-Host"):
        proto = headers.get("X-Forwarded-Proto", "https")
        url = f"{proto}://{headers['X-Forwarded-Host']}{headers.get('X-Forwarded-Uri', '/')}"
    method = headers.get("X-Original-Method") or headers.get("X-Forwarded-Method") or "GET"
    return quote(url or "", safe=_URL_SAFE), method.upper()


def _sign_in_first(url: str, method: str):
    location = f"{current_app.config['PUBLIC_BASE_URL']}/login?rd={quote(url, safe='')}"
    if request.args.get("mode") == "redirect" and method in ("GET", "HEAD") and not _wants_json():
        return _uncached(redirect(location, 302))
    # nginx turns this into the redirect itself (error_page 401 =302 $location).
    raise errors.NotAuthenticated(headers={"Location": location})


def _not_for_you(user, host: str):
    if _wants_json():
        raise errors.AccessDenied(f"Your account may not enter {host}.")
    page = render_template("forward_auth_denied.html", t=texts(), host=host, name=user.nickname,
                           home=current_app.config["PUBLIC_BASE_URL"])
    return _uncached(current_app.response_class(page, status=403, mimetype="text/html"))


def _wants_json() -> bool:
    if request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _header_value(text: str) -> str:
    # HTTP headers carry bytes; names (often Chinese) go as UTF-8, which WSGI spells as latin-1.
    clean = "".join(c for c in (text or "") if c.isprintable())
    return clean.encode("utf-8").decode("latin-1")


def _uncached(response):
    response.headers["Cache-Control"] = "no-store"
    return response
