"""QR images of a ticket's qr_content.

segno's automatic mask choice scores all eight masks (~8 ms a code); one fixed
mask scans just as well on phone cameras at this size and costs ~1.5 ms.
"""
import io

import segno

MASK = 4
BORDER = 2  # quiet zone, in modules
SVG_SCALE = 6  # pixels per module at the SVG's natural size


def _make(content: str):
    return segno.make_qr(content, error="m", mask=MASK, boost_error=False)


def svg(content: str) -> bytes:
    """The code as a small SVG: one path of dark runs on a white square.

    Written here rather than by segno's general SVG writer, which takes longer
    than encoding the code itself; creation answers carry this image.
    """
    matrix = _make(content).matrix
    size = len(matrix) + 2 * BORDER
    runs = []
    for y, row in enumerate(matrix, start=BORDER):
        x, width = 0, len(row)
        while x < width:
            if row[x]:
                start = x
                while x < width and row[x]:
                    x += 1
                runs.append(f"M{start + BORDER} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    pixels = size * SVG_SCALE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{pixels}" '
        f'height="{pixels}" shape-rendering="crispEdges"><title>Login QR code</title>'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d="{"".join(runs)}"/></svg>'
    ).encode()


def png(content: str) -> bytes:
    out = io.BytesIO()
    _make(content).save(out, kind="png", scale=8, border=BORDER)
    return out.getvalue()


def terminal_text(content: str) -> str:
    out = io.StringIO()
    _make(content).terminal(out=out, compact=True)
    return out.getvalue()
