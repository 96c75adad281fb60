"""Registered apps (OpenID Connect clients): add, list, show, remove, rotate a secret.

The secret of a confidential client is shown once, when it is made, and stored only hashed.
"""
from urllib.parse import urlsplit

import sqlalchemy as sa

from .. import clock, errors
from ..extensions import db
from ..security import hash_secret, new_secret
from .models import OidcClient
from secrets import token_hex


def add(name: str, redirect_uris: list[str], post_logout_redirect_uris: list[str] = (), *,
        public: bool = False, trusted: bool = False, allowed_groups: list[str] = ()) -> tuple[OidcClient, str | None]:
    """Register an app; returns it and its secret (None for a public client)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise errors.InvalidRequest("--name must be 1 to 64 characters.")
    if not redirect_uris:
        raise errors.InvalidRequest("Give at least one --redirect-uri.")
    for uri in redirect_uris:
        _check_uri(uri, "--redirect-uri")
    for uri in post_logout_redirect_uris:
        _check_uri(uri, "--post-logout-redirect-uri")
    groups = sorted({g.strip() for g in allowed_groups})
    if any(not g or len(g) > 64 for g in groups):
        raise errors.InvalidRequest("--allowed-group must be a group name of 1 to 64 characters.")
    secret = None if public else new_secret()
    client = OidcClient(
        client_id=token_hex(16),  # hex: safe in any config file or command line
        secret_hash=None if secret is None else hash_secret(secret),
        name=name,
        redirect_uris=list(dict.fromkeys(redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(post_logout_redirect_uris)),
        trusted=trusted,
        allowed_groups=groups,
        created_at=clock.utcnow(),
    )
    db.session.add(client)
    db.session.flush()
    return client, secret


def _check_uri(uri: str, option: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise errors.InvalidRequest(f"{option} must be an absolute http(s) URL, got {uri!r}.")
    if parts.fragment or "#" in uri:
        raise errors.InvalidRequest(f"{option} must not contain a fragment (#), got {uri!r}.")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise errors.InvalidRequest(f"{option} must use https (http only for localhost), got {uri!r}.")
    if len(uri) > 512:
        raise errors.InvalidRequest(f"{option} is longer than 512 characters.")


def find(client_id: str | None) -> OidcClient | None:
    if not client_id or len(client_id) > 48:
        return None
    return db.session.scalar(sa.select(OidcClient).where(OidcClient.client_id == client_id))


def get(client_id: str) -> OidcClient:
    client = find(client_id)
    if client is None:
        raise errors.ClientNotFound(f"No app with client_id {client_id!r}.")
    return client


def all_clients() -> list[OidcClient]:
    return list(db.session.scalars(sa.select(OidcClient).order_by(OidcClient.id)))


def remove(client_id: str) -> None:
    """Delete the app with its codes and tokens: they stop working at once."""
    result = db.session.execute(sa.delete(OidcClient).where(OidcClient.client_id == client_id),
                                execution_options={"synchronize_session": False})
    if result.rowcount != 1:
        raise errors.ClientNotFound(f"No app with client_id {client_id!r}.")


def rotate_secret(client_id: str) -> str:
    """A new secret for a confidential client; the old one stops working at once."""
    secret = new_secret()
    result = db.session.execute(
        sa.update(OidcClient)
        .where(OidcClient.client_id == client_id, OidcClient.secret_hash.is_not(None))
        .values(secret_hash=hash_secret(secret), secret_rotated_at=clock.utcnow()),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        if find(client_id) is not None:
            raise errors.InvalidRequest(f"{client_id} is a public client: it has no secret.")
        raise errors.ClientNotFound(f"No app with client_id {client_id!r}.")
    return secret
