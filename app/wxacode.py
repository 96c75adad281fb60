"""Mini-program codes (QR_MODE=wxacode): WeChat draws a code that opens the login page.

The code carries `scene=<ticket id>` (22 characters, within WeChat's 32). Each
ticket's image is fetched once and kept in the database, so every worker serves
it without asking WeChat again; it is deleted with its ticket.
"""
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from . import errors, tickets, wechat
from .extensions import db
from .models import Ticket, WxacodeImage

# Why a ticket that has no image yet will never need one
_NO_LONGER_SCANNABLE = {
    tickets.EXPIRED: errors.TicketExpired,
    tickets.CANCELLED: errors.TicketCancelled,
    tickets.CONSUMED: errors.TicketUsed,
}


def enabled() -> bool:
    return current_app.config["QR_MODE"] == "wxacode"


def image(ticket: Ticket) -> tuple[bytes, str]:
    """(bytes, mimetype) of the ticket's mini-program code, from the cache or from WeChat."""
    cached = db.session.execute(
        sa.select(WxacodeImage.image, WxacodeImage.mimetype).where(WxacodeImage.ticket_id == ticket.id)
    ).first()
    if cached is not None:
        db.session.commit()
        return cached.image, cached.mimetype
    refusal = _NO_LONGER_SCANNABLE.get(ticket.status)
    if refusal is not None:  # spend none of WeChat's quota on a dead code
        raise refusal()
    db.session.commit()  # hold no database connection while WeChat answers
    cfg = current_app.config
    drawn = wechat.client().wxacode(ticket.id, cfg["WECHAT_LOGIN_PAGE"], cfg["WECHAT_ENV_VERSION"])
    db.session.add(WxacodeImage(ticket_id=ticket.id, mimetype=drawn.mimetype, image=drawn.data))
    try:
        db.session.commit()
    except IntegrityError:  # another request stored it first (or the ticket was purged): serve ours
        db.session.rollback()
    return drawn.data, drawn.mimetype
