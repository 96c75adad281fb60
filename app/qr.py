"""QR images of a ticket's qr_content.

segno's automatic mask choice scores all eight masks (~8 ms a code); one fixed
mask scans just as well on phone cameras at this size and costs ~1.5 ms.
"""
import io

import segno

MASK = 4


def _make(content: str):
    return segno.make_qr(content, error="m", mask=MASK, boost_error=False)


def svg(content: str) -> bytes:
    out = io.BytesIO()
    _make(content).save(out, kind="svg", scale=6, border=2, xmldecl=False, svgns=True,
                        title="Login QR code")
    return out.getvalue()


def png(content: str) -> bytes:
    out = io.BytesIO()
    _make(content).save(out, kind="png", scale=8, border=2)
    return out.getvalue()


def terminal_text(content: str) -> str:
    out = io.StringIO()
    _make(content).terminal(out=out, compact=True)
    return out.getvalue()
