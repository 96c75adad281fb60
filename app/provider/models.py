"""Database rows of the OpenID Connect provider: clients, pending requests, codes, tokens.

Every secret (client secret, code, access and refresh token) is stored only as
its SHA-256 hash (app/security.py); the plain value exists once, in the answer
that hands it out.
"""
from datetime import datetime

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, list_to_scope, scope_to_list
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from ..extensions import db
from ..models import LoginSession, User, UTCDateTime
from ..security import secret_matches

# Scopes a client may ask for; "openid" is required for an id_token.
SCOPES = ("openid", "profile", "phone", "groups", "offline_access")


class OidcClient(db.Model, ClientMixin):
    """An app whose users log in here. Registered with `flask oidc add-client`.

    Public clients (single-page and native apps) hold no secret and must use PKCE;
    confidential ones authenticate at the token endpoint with their secret.
    """

    __tablename__ = "oidc_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(48), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(64))
    redirect_uris: Mapped[list] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(sa.JSON, default=list)
    # A first-party app: a person who is already logged in here goes straight through.
    # Any other app always asks on the phone, which names it.
    trusted: Mapped[bool] = mapped_column(default=False)
    # Only members of one of these groups may log in to this app (empty: everyone allowed in).
    allowed_groups: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    @property
    def token_endpoint_auth_method(self) -> str:
        return "none" if self.public else "client_secret_basic"

    @property
    def client_metadata(self) -> dict:
        # What Authlib's endpoints read (userinfo, end_session) in the registration's names.
        return {
            "client_name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": list_to_scope(SCOPES),
        }

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # redirect_uri is always required and always matched exactly

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return list_to_scope([s for s in scope_to_list(scope) if s in SCOPES])

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact string match, no prefixes or patterns

    def check_client_secret(self, client_secret):
        return secret_matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")

    def to_dict(self) -> dict:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "public": self.public,
            "trusted": self.trusted,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "allowed_groups": list(self.allowed_groups),
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


class OidcRequest(db.Model):
    """An authorization request waiting for its login, kept here so the QR page and the
    ticket only carry its short id (an authorize URL is too long for `next`).

    Bound to the browser that made it (its binding cookie's hash); used once.
    """

    __tablename__ = "oidc_requests"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"), index=True)
    params: Mapped[dict] = mapped_column(sa.JSON)
    browser_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    client: Mapped[OidcClient] = relationship(lazy="joined")


class OidcCode(db.Model):
    """An authorization code. Redeemed by one conditional UPDATE (see server.py); kept until it
    expires so a second redemption is recognised and revokes what the first one got."""

    __tablename__ = "oidc_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("login_sessions.id", ondelete="SET NULL"), index=True)
    redirect_uri: Mapped[str] = mapped_column(sa.String(512))
    scope: Mapped[str] = mapped_column(sa.String(255), default="")
    nonce: Mapped[str | None] = mapped_column(sa.String(255))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OidcClient] = relationship(lazy="joined")

    # What Authlib's grants and extensions ask of a code.
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return int(self.auth_time.timestamp())

    def get_acr(self):
        return None

    def get_amr(self):
        return AMR


# How the person logged in (RFC 8176): a signed-in phone app holding its own key ("swk")
# and the person's explicit confirmation on it ("user").
AMR = ["swk", "user"]


class OidcToken(db.Model, TokenMixin):
    """An access token and, with scope offline_access, a refresh token.

    Refreshing marks the row used and issues a new row in the same `family`; a refresh
    token presented twice revokes the whole family (RFC 9700 refresh token rotation).
    """

    __tablename__ = "oidc_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("login_sessions.id", ondelete="SET NULL"), index=True)
    code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("oidc_codes.id", ondelete="SET NULL"), index=True)
    family: Mapped[str] = mapped_column(sa.String(32), index=True)
    access_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    scope: Mapped[str] = mapped_column(sa.String(255), default="")
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OidcClient] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")
    login_session: Mapped[LoginSession | None] = relationship(lazy="joined")

    @property
    def offline(self) -> bool:
        return "offline_access" in scope_to_list(self.scope)

    # What Authlib's endpoints ask of a token.
    def check_client(self, client):
        return self.client_pk == client.id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_expired(self):
        return self.access_expires_at <= clock.utcnow()

    def is_revoked(self):
        return self.revoked_at is not None

    def get_client(self):
        return self.client

    def get_user(self):
        return self.user
