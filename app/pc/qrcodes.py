"""What the PC page shows to be scanned: the QR's text and its images."""
from flask import url_for

from .. import oa_login, qr, wxacode
from ..inputs import public_base_url
from ..models import Ticket
from ..security import new_ticket_id


def made_by_wechat() -> tuple[str | None, str | None]:
    """(ticket id, QR text) when WeChat draws the code (Official Account mode), else (None, None).

    WeChat makes the QR before the ticket row exists, so a failure leaves no ticket behind.
    """
    if not oa_login.enabled():
        return None, None
    ticket_id = new_ticket_id()
    return ticket_id, oa_login.make_qr(ticket_id, public_base_url())


def content(ticket: Ticket) -> str:
    """The text the QR encodes: a public URL naming the ticket (ours, or WeChat's), nothing secret."""
    return ticket.qr_url or f"{public_base_url()}/qr/{ticket.id}"


def for_new_ticket(ticket: Ticket) -> dict:
    """The QR fields of a creation answer."""
    ticket_id = ticket.id
    fields = {
        "qr_content": content(ticket),
        "qr_svg_url": url_for("pc.ticket_qr", ticket_id=ticket_id, kind="svg"),
        "qr_png_url": url_for("pc.ticket_qr", ticket_id=ticket_id, kind="png"),
    }
    if wxacode.enabled():  # the page shows WeChat's mini-program code, fetched by URL
        fields["qr_image_url"] = fields["qr_png_url"]
    else:  # the image comes with the ticket, so the page needs no second round trip
        fields["qr_image_url"] = fields["qr_svg_url"]
        fields["qr_svg"] = qr.svg(fields["qr_content"]).decode()
    return fields


def image(ticket: Ticket, kind: str) -> tuple[bytes, str]:
    """(bytes, mimetype) of the ticket's image; qr.png is WeChat's mini-program code in wxacode mode."""
    if kind == "png" and wxacode.enabled():
        return wxacode.image(ticket)
    if kind == "svg":
        return qr.svg(content(ticket)), "image/svg+xml"
    return qr.png(content(ticket)), "image/png"
