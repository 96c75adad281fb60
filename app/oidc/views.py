"""OpenID Connect endpoints. The protocol lives in app/provider; these views only connect it to HTTP."""
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import current_app, jsonify, make_response, redirect, render_template, request, url_for

from .. import auth, clock, errors
from ..extensions import db
from ..provider import keys, pending, people
from ..provider.models import SCOPES
from ..provider.server import issuer, provider, session_sid
from ..pc.i18n import texts
from . import bp

CLAIMS = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr", "at_hash",
          "name", "picture", "phone_number", "phone_number_verified", "groups"]


@bp.before_request
def https_only():
    cfg = current_app.config
    if cfg["APP_ENV"] == "production" and not cfg.get("TESTING") and not issuer().startswith("https://"):
        raise errors.InsecureIssuer()


@bp.get("/.well-known/openid-configuration")
def discovery():
    base = issuer()
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
    response = jsonify({
        "issuer": base,
        "authorization_endpoint": base + url_for("oidc.authorize"),
        "token_endpoint": base + url_for("oidc.token"),
        "userinfo_endpoint": base + url_for("oidc.userinfo"),
        "jwks_uri": base + url_for("oidc.jwks"),
        "end_session_endpoint": base + url_for("oidc.end_session"),
        "revocation_endpoint": base + url_for("oidc.revoke"),
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login"],
        "claims_supported": CLAIMS,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    })
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth/jwks")
def jwks():
    response = jsonify(keys.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth/authorize")
def authorize():
    """Issue a code at once to a person logged in here recently enough for a trusted app;
    otherwise keep the request and show the QR page, which comes back to resume()."""
    server = provider()
    login = auth.current_session()
    prompts = (request.args.get("prompt") or "").split()
    max_age = request.args.get("max_age")
    fresh = login is not None and "login" not in prompts and _within_max_age(login, max_age)
    try:
        grant = server.get_consent_grant(end_user=login.user if fresh else None)
        if max_age is not None and not _whole_seconds(max_age):
            raise InvalidRequestError("'max_age' must be a whole number of seconds.", state=request.args.get("state"))
        client = grant.request.client
        if fresh and client.trusted:
            return _issue(server, grant, login)
        if "none" in prompts:  # the app asked not to show anything; a scan would be needed
            error = ConsentRequiredError if fresh else LoginRequiredError
            raise error(state=request.args.get("state"))
    except OAuth2Error as error:
        return _authorize_error(server, error, grant_redirect=_validated_redirect(server))
    secret, browser_hash = auth.browser_binding()
    row = pending.keep(client, request.args.to_dict(), browser_hash)
    db.session.commit()
    response = redirect(url_for("pc.login_page", authorize=row.id))
    auth.set_bind_cookie(response, secret)
    return response


@bp.get("/oauth/authorize/resume/<request_id>")
def resume(request_id):
    """Back from the QR page: a session started after the request answers it."""
    row = pending.find(request_id, auth.browser_hash())
    if row is None:
        db.session.commit()
        return _error_page("request_expired", 400)
    login = auth.current_session()
    if login is None or login.created_at < row.created_at:
        db.session.commit()
        return redirect(url_for("pc.login_page", authorize=row.id))
    server = provider()
    oauth_request = pending.replay(row, request.url)
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=login.user)
    except OAuth2Error as error:
        return _authorize_error(server, error, grant_redirect=None)
    if not pending.take(row):  # another tab of this browser finished it a moment ago
        db.session.rollback()
        return _error_page("request_expired", 400)
    return _issue(server, grant, login)


def _issue(server, grant, login):
    user, client = login.user, grant.request.client
    if people.blocked(user) or not people.allowed(user, client.allowed_groups):
        db.session.commit()
        error = AccessDeniedError(f"This account may not log in to {client.name}.",
                                  redirect_uri=grant.request.payload.redirect_uri)
        error.state = grant.request.payload.state
        return server.handle_error_response(grant.request, error)
    grant.request.login_session = login
    response = server.create_authorization_response(request=grant.request, grant_user=user, grant=grant)
    db.session.commit()
    return response


def _within_max_age(login, max_age) -> bool:
    if max_age is None or not _whole_seconds(max_age):
        return True  # an invalid max_age is refused after the client is known
    return (clock.utcnow() - login.created_at).total_seconds() <= int(max_age)


def _whole_seconds(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 10


def _validated_redirect(server):
    """The redirect_uri of this request if client and redirect_uri check out, else None."""
    from ..provider import clients

    client = clients.find(request.args.get("client_id"))
    uri = request.args.get("redirect_uri")
    return uri if client is not None and uri and client.check_redirect_uri(uri) else None


def _authorize_error(server, error, grant_redirect):
    """Errors go back to the app only when its redirect_uri is proven; otherwise a page says why."""
    db.session.rollback()
    if error.redirect_uri is None and grant_redirect is not None and error.error not in ("invalid_client",):
        error.redirect_uri = grant_redirect
    if error.redirect_uri:
        return server.handle_error_response(None, error)
    return _error_page(error.error, 400, error.description)


def _error_page(code: str, status: int, detail: str | None = None):
    t = texts()
    return make_response(render_template("oidc_error.html", t=t, code=code, detail=detail), status)


@bp.post("/oauth/token")
def token():
    response = provider().create_token_response()
    # Failed requests write only revocations (a reused code or refresh token); keep them.
    db.session.commit()
    return response


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo():
    response = provider().create_endpoint_response("userinfo")
    db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/oauth/revoke")
def revoke():
    response = provider().create_endpoint_response("revocation")
    db.session.commit()
    return response


@bp.route("/oauth/end_session", methods=["GET", "POST"])
def end_session():
    """RP-initiated logout: end this browser's session here, then go back to the app if it proved itself."""
    server = provider()
    try:
        logout = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return _error_page(error.error, 400, error.description)
    login = auth.current_session()
    if login is not None and logout.needs_confirmation:
        # Without an id_token_hint anyone could link here: ask first (the form carries a value
        # only this browser's page knows, so another site cannot post it).
        sid = session_sid(login.id, login.token_hash)
        if request.method == "GET" or request.form.get("confirm") != sid:
            db.session.commit()
            return render_template("oidc_logout.html", t=texts(), confirm=sid,
                                   app=logout.client.name if logout.client else None)
    if login is not None:
        auth.end_session(login)
    db.session.commit()
    response = server.create_endpoint_response("end_session", logout)
    if response is None:
        response = make_response(render_template("oidc_logout.html", t=texts(), done=True))
    auth.clear_login_cookie(response)
    return response


@bp.after_request
def never_cached(response):
    if request.endpoint not in ("oidc.discovery", "oidc.jwks"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


