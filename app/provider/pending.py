"""Authorization requests waiting for a login (the scan), kept server-side by a short id.

The QR page, the ticket and the return path carry only the id; the full request
(state, nonce, PKCE challenge, redirect_uri) stays here. A pending request belongs to
the browser that made it and is taken once.
"""
from datetime import timedelta

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import current_app

from .. import clock
from ..extensions import db
from ..security import new_ticket_id
from .models import OidcClient, OidcRequest


def keep(client: OidcClient, params: dict, browser_hash: str) -> OidcRequest:
    now = clock.utcnow()
    row = OidcRequest(
        id=new_ticket_id(),
        client_pk=client.id,
        params=params,
        browser_hash=browser_hash,
        created_at=now,
        expires_at=now + timedelta(seconds=current_app.config["OIDC_REQUEST_TTL_SECONDS"]),
    )
    db.session.add(row)
    db.session.flush()
    return row


def find(request_id: str | None, browser_hash: str | None) -> OidcRequest | None:
    """The live pending request of this browser, or None."""
    if not request_id or len(request_id) > 32 or not browser_hash:
        return None
    return db.session.scalar(sa.select(OidcRequest).where(
        OidcRequest.id == request_id, OidcRequest.browser_hash == browser_hash,
        OidcRequest.expires_at > clock.utcnow()))


def take(row: OidcRequest) -> bool:
    """Use the request up; True for exactly one caller."""
    result = db.session.execute(
        sa.delete(OidcRequest).where(OidcRequest.id == row.id, OidcRequest.expires_at > clock.utcnow()),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1


def replay(row: OidcRequest, uri: str) -> OAuth2Request:
    """The stored request as Authlib reads an incoming one."""
    oauth_request = OAuth2Request("GET", uri)
    oauth_request.payload = BasicOAuth2Payload(dict(row.params))
    return oauth_request


def app_for_ticket(ticket) -> OidcClient | None:
    """The app a ticket's login is for (the phone names it), or None for a login to this site."""
    if not ticket.oidc_request_id:
        return None
    return db.session.scalar(sa.select(OidcClient).join(OidcRequest, OidcRequest.client_pk == OidcClient.id)
                             .where(OidcRequest.id == ticket.oidc_request_id))
