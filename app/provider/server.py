"""The OpenID Connect provider, built on Authlib: authorization code flow only.

    app --/authorize?client_id&redirect_uri&scope&state&nonce&code_challenge-->  (checked by Authlib)
        logged in here, recently enough, and the app is trusted?
          yes --> code --> app
          no  --> the request is kept (pending.py), the QR page shows, the phone names the app,
                  the person confirms --> a fresh session --> /authorize/resume/<id> --> code --> app
    app --/token (code + secret or PKCE verifier)--> access token, id_token (RS256, kid),
                                                     refresh token with offline_access
    app --/userinfo (Bearer)--> claims        app --/revoke--> token ended
    browser --/end_session--> the login session here ends

Where Authlib's defaults are weaker than ours, ours win:
- a code is redeemed by one conditional UPDATE whose row count decides (a race between
  two redemptions has exactly one winner); a code presented again after that revokes
  every token the first redemption got;
- a refresh token is used once: refreshing marks it used by one conditional UPDATE and a
  refresh token presented again revokes its whole family;
- client secrets, codes and tokens are stored as SHA-256 hashes;
- PKCE is S256 only, and required for public clients already at /authorize.
"""
from datetime import timedelta

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import OAuth2Request, scope_to_list
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app, request

from .. import clock
from ..extensions import db
from ..models import LoginSession, User
from ..security import hash_secret, new_secret, new_ticket_id
from . import clients, keys, people
from .models import AMR, OidcCode, OidcToken

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def issuer() -> str:
    cfg = current_app.config
    return cfg.get("OIDC_ISSUER") or cfg.get("PUBLIC_BASE_URL") or request.host_url.rstrip("/")


def session_sid(login_session_id: int | None, token_hash: str | None = None) -> str | None:
    """The `sid` claim: opaque, derived from the session's stored hash, never its row id."""
    if token_hash is None and login_session_id is not None:
        token_hash = db.session.scalar(sa.select(LoginSession.token_hash).where(LoginSession.id == login_session_id))
    return hash_secret("sid:" + token_hash)[:32] if token_hash else None


def user_claims(user: User, scope: str) -> dict:
    """What an app learns about the person, by scope (the claims table in README)."""
    scopes = set(scope_to_list(scope) or [])
    claims = UserInfo(sub=people.subject(user))
    if "profile" in scopes:
        claims["name"] = user.nickname or None
        claims["picture"] = user.avatar_url or None
    if "phone" in scopes:
        number, verified = people.phone(user)
        if number:
            claims["phone_number"] = number
            claims["phone_number_verified"] = verified
    if "groups" in scopes:
        claims["groups"] = people.groups(user)
    return UserInfo({k: v for k, v in claims.items() if v is not None})


def _offline_only(include_refresh_token: bool, scope) -> bool:
    return include_refresh_token and "offline_access" in (scope_to_list(scope) or [])


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code, request):
        login = request.login_session  # set by the view: the session that logged in
        now = clock.utcnow()
        data = request.payload.data
        db.session.add(OidcCode(
            code_hash=hash_secret(code),
            client_pk=request.client.id,
            user_id=request.user.id,
            login_session_id=login.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=login.created_at,
            created_at=now,
            expires_at=now + timedelta(seconds=current_app.config["OIDC_CODE_TTL_SECONDS"]),
        ))
        db.session.flush()

    def query_authorization_code(self, code, client):
        if not code or len(code) > 128:
            return None
        row = db.session.scalar(sa.select(OidcCode).where(OidcCode.code_hash == hash_secret(code),
                                                          OidcCode.client_pk == client.id))
        if row is None:
            return None
        if row.redeemed_at is not None:
            # A code presented twice was copied: what the first redemption got is revoked too.
            _revoke(OidcToken.code_id == row.id)
            return None
        if row.expires_at <= clock.utcnow():
            return None
        return row

    def authenticate_user(self, authorization_code):
        now = clock.utcnow()
        redeemed = db.session.execute(
            sa.update(OidcCode)
            .where(OidcCode.id == authorization_code.id, OidcCode.redeemed_at.is_(None), OidcCode.expires_at > now)
            .values(redeemed_at=now),
            execution_options={"synchronize_session": False},
        )
        if redeemed.rowcount != 1:
            raise InvalidGrantError("The code has already been used or has expired.")
        user = db.session.get(User, authorization_code.user_id)
        if user is None or people.blocked(user):
            raise InvalidGrantError("This person may no longer log in.")
        return user

    def delete_authorization_code(self, authorization_code):
        pass  # kept, redeemed, until it expires: a second use is recognised (query_authorization_code)

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return super().generate_token(user, scope, grant_type, expires_in,
                                      _offline_only(include_refresh_token, scope))


class RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use

    def authenticate_refresh_token(self, refresh_token):
        if not refresh_token or len(refresh_token) > 128:
            return None
        row = db.session.scalar(sa.select(OidcToken).where(OidcToken.refresh_token_hash == hash_secret(refresh_token)))
        if row is None:
            return None
        if row.refresh_used_at is not None:
            # Presented again after it was exchanged: someone holds a copy. End the whole family.
            _revoke(OidcToken.family == row.family)
            return None
        if row.revoked_at is not None or row.refresh_expires_at is None or row.refresh_expires_at <= clock.utcnow():
            return None
        if people.blocked(row.user):
            return None
        return row

    def authenticate_user(self, refresh_token):
        now = clock.utcnow()
        used = db.session.execute(
            sa.update(OidcToken)
            .where(OidcToken.id == refresh_token.id, OidcToken.refresh_used_at.is_(None),
                   OidcToken.revoked_at.is_(None))
            .values(refresh_used_at=now),
            execution_options={"synchronize_session": False},
        )
        if used.rowcount != 1:
            raise InvalidGrantError("The refresh token has already been used.")
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        # The access token that came with the used refresh token ends with it.
        db.session.execute(
            sa.update(OidcToken).where(OidcToken.id == refresh_token.id, OidcToken.revoked_at.is_(None))
            .values(revoked_at=clock.utcnow()),
            execution_options={"synchronize_session": False},
        )

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return super().generate_token(user, scope, grant_type, expires_in,
                                      _offline_only(include_refresh_token, scope))


class S256Only(CodeChallenge):
    """PKCE with S256 only; a public client must send it already with the authorization request."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        if grant.request.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("A public client must use PKCE: send 'code_challenge' with S256.")


class OpenIDLogin(OpenIDCode):
    def exists_nonce(self, nonce, request):
        return False  # a nonce is echoed into the id_token; the app checks it, codes are single-use anyway

    def resolve_client_private_key(self, client):
        return keys.signing_key()

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": keys.signing_kid()}

    def get_client_algorithm(self, client):
        return "RS256"

    def get_client_claims(self, client):
        return {"iss": issuer(), "aud": client.client_id}  # one audience: logout finds the app by it

    def get_compatible_claims(self, request):
        claims = super().get_compatible_claims(request)
        claims["exp"] = claims["iat"] + current_app.config["OIDC_ID_TOKEN_TTL_SECONDS"]
        return claims

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        sid = session_sid(authorization_code.login_session_id)
        if sid:
            claims["sid"] = sid
        return claims

    def generate_user_info(self, user, scope):
        return user_claims(user, scope)


class UserInfoClaims(UserInfoEndpoint):
    def get_issuer(self):
        return issuer()

    def generate_user_info(self, user, scope):
        return user_claims(user, scope)

    def resolve_private_key(self):
        return keys.signing_key()


class AccessTokens(BearerTokenValidator):
    def authenticate_token(self, token_string):
        if not token_string or len(token_string) > 128:
            return None
        row = db.session.scalar(sa.select(OidcToken).where(OidcToken.access_token_hash == hash_secret(token_string)))
        return row if row is not None and active(row) else None


def active(token: OidcToken) -> bool:
    """A token works while its person may log in and, unless it is for offline use,
    while the login session it came from lasts (logging out there ends it)."""
    if token.revoked_at is not None or people.blocked(token.user):
        return False
    if token.offline:
        return True
    login = token.login_session
    now = clock.utcnow()
    return login is not None and login.ended_at is None and login.expires_at > now


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        if not token_string or len(token_string) > 128:
            return None
        digest = hash_secret(token_string)
        return db.session.scalar(sa.select(OidcToken).where(
            sa.or_(OidcToken.access_token_hash == digest, OidcToken.refresh_token_hash == digest)))

    def revoke_token(self, token, request):
        if token.refresh_token_hash == hash_secret(request.form["token"]):
            _revoke(OidcToken.family == token.family)  # a refresh token ends its whole grant
        else:
            _revoke(OidcToken.id == token.id)


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return keys.public_key_set()

    def get_algorithms(self):
        return ["RS256"]

    def end_session(self, end_session_request):
        pass  # the view ends the browser's session here; tokens tied to it stop working (active())


def _revoke(condition) -> None:
    db.session.execute(
        sa.update(OidcToken).where(condition, OidcToken.revoked_at.is_(None)).values(revoked_at=clock.utcnow()),
        execution_options={"synchronize_session": False},
    )


def _save_token(token: dict, request) -> None:
    cfg = current_app.config
    now = clock.utcnow()
    if request.authorization_code is not None:
        origin = request.authorization_code
        family, code_id = new_ticket_id(), origin.id
    else:
        origin = request.refresh_token
        family, code_id = origin.family, origin.code_id
    refresh = token.get("refresh_token")
    db.session.add(OidcToken(
        client_pk=request.client.id,
        user_id=request.user.id,
        login_session_id=origin.login_session_id,
        code_id=code_id,
        family=family,
        access_token_hash=hash_secret(token["access_token"]),
        refresh_token_hash=hash_secret(refresh) if refresh else None,
        scope=token.get("scope") or "",
        auth_time=origin.auth_time,
        issued_at=now,
        access_expires_at=now + timedelta(seconds=token["expires_in"]),
        refresh_expires_at=now + timedelta(seconds=cfg["OIDC_REFRESH_TOKEN_TTL_SECONDS"]) if refresh else None,
    ))
    db.session.flush()


class Provider(AuthorizationServer):
    def create_oauth2_request(self, request):
        # A stored authorization request is replayed as it was (see pending.py).
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)


def init_app(app) -> Provider:
    server = Provider()
    server.init_app(app, query_client=clients.find, save_token=_save_token)
    ttl = app.config["OIDC_ACCESS_TOKEN_TTL_SECONDS"]
    server.register_token_generator("default", BearerTokenGenerator(
        access_token_generator=lambda **_: new_secret(),
        refresh_token_generator=lambda **_: new_secret(),
        expires_generator=lambda client, grant_type: ttl,
    ))
    server.register_grant(CodeGrant, [OpenIDLogin(require_nonce=False), S256Only(required=True)])
    server.register_grant(RefreshGrant)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokens())
    server.register_endpoint(UserInfoClaims(resource_protector=protector))
    server.register_endpoint(Revocation)
    server.register_endpoint(EndSession)
    app.extensions["oidc_server"] = server
    return server


def provider() -> Provider:
    return current_app.extensions["oidc_server"]
