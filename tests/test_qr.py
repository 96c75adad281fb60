"""The QR images: what a phone camera reads must be exactly the code segno encodes."""
import re

import segno

from app import qr

CONTENT = "https://login.example.com/qr/AbCdEfGhIjKlMnOpQrStUv"


def test_svg_draws_exactly_the_encoded_modules():
    code = segno.make_qr(CONTENT, error="m", mask=qr.MASK, boost_error=False)
    expected = {(x, y) for y, row in enumerate(code.matrix) for x, dark in enumerate(row) if dark}
    path = re.search(r' d="([^"]*)"', qr.svg(CONTENT).decode()).group(1)
    drawn = set()
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        drawn.update((int(x) + i - qr.BORDER, int(y) - qr.BORDER) for i in range(int(width)))
    assert drawn == expected


def test_svg_has_a_quiet_zone_on_white():
    svg = qr.svg(CONTENT).decode()
    size = len(segno.make_qr(CONTENT, error="m").matrix) + 2 * qr.BORDER
    assert f'viewBox="0 0 {size} {size}"' in svg
    assert f'<rect width="{size}" height="{size}" fill="#fff"/>' in svg

