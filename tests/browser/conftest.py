"""Headless Chromium (Debian's package) driven by Playwright, and the login page as a person sees it."""
import struct
import zlib
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from playwright.sync_api import expect, sync_playwright

from app import qr

from ..support.live import ARTIFACTS, AVATAR_HOST, LivePhone, require_tool

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
WINDOWS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LOCALES = {"en": "en-US", "zh-CN": "zh-CN", "zh-TW": "zh-TW"}
SCREENSHOTS = ARTIFACTS / "screenshots"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def playwright():
    """One Playwright for the whole run (a second one cannot start while it runs)."""
    require_tool(CHROMIUM, "install Debian's chromium package to run the browser tests")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_login_page(chromium):
    """Opens /login in a fresh browser window of the given size and language."""
    contexts = []

    def open_(server, window="desktop", lang="en", fake_clock=False):
        context = chromium.new_context(viewport=WINDOWS[window], locale=LOCALES[lang], base_url=server.url,
                                       is_mobile=window == "phone", has_touch=window == "phone")
        # Avatars are https URLs on the mini-program team's storage; serve them locally
        # (any name with "missing" in it is a dead link).
        context.route(AVATAR_HOST + "/**", serve_avatar)
        contexts.append(context)
        page = context.new_page()
        if fake_clock:
            page.clock.install()  # runs in step with real time until the test moves it
        return LoginPage(page, server, f"{window}-{lang}").open()

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def phone_browser(chromium):
    """WeChat's browser on a phone: opens a URL (a link from the chat, a page from a QR) in a language."""
    contexts = []

    def open_(url, lang="en"):
        context = chromium.new_context(viewport=WINDOWS["phone"], locale=LOCALES[lang], is_mobile=True,
                                       has_touch=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()


# What JavaScript's encodeURIComponent leaves as it is.
_URI_SAFE = "-_.!~*'()"


class LoginPage:
    """/login in one window: which ticket it shows, what it says, screenshots of each state."""

    def __init__(self, page, server, label):
        self.page, self.server, self.label = page, server, label
        self.ticket = None
        self.qr = page.locator("#qrl-qr")
        self.status = page.locator("#qrl-status")
        self.countdown = page.locator("#qrl-countdown")
        self.refresh = page.locator("#qrl-refresh")

    def open(self):
        with self.expect_new_ticket():
            self.page.goto("/login")
        return self

    @contextmanager
    def expect_new_ticket(self, timeout=10_000):
        """The block makes the page fetch a new ticket, which becomes self.ticket."""
        creates = lambda r: r.url.endswith("/api/tickets") and r.request.method == "POST"  # noqa: E731
        with self.page.expect_response(creates, timeout=timeout) as info:
            yield
        self.ticket = info.value.json()

    def expect_qr_of_current_ticket(self, content=None):
        """The QR on screen is the image of `content` (by default `<server>/qr/<ticket id>`), byte for byte
        what segno draws."""
        ticket_id = self.ticket["ticket_id"]
        expect(self.qr).to_be_visible()
        expected = qr.svg(content or f"{self.server.url}/qr/{ticket_id}")
        # The image arrives inline with the ticket, as a data: URL of the SVG.
        expect(self.qr).to_have_attribute("src", "data:image/svg+xml;charset=utf-8," + quote(expected.decode(), safe=_URI_SAFE))
        expect(self.qr).to_have_js_property("complete", True)
        assert self.qr.evaluate("img => img.naturalWidth") > 0  # drawn, not a broken image

    def expect_card_fits_the_window(self):
        box = self.page.locator(".card").bounding_box()
        window = self.page.viewport_size
        assert box["x"] >= 0 and box["x"] + box["width"] <= window["width"]
        assert box["y"] >= 0 and box["y"] + box["height"] <= window["height"]

    def set_hidden(self, hidden: bool):
        """What the browser does when the person switches tabs or minimises the window."""
        self.page.evaluate("""hidden => {
            Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
            Object.defineProperty(document, 'visibilityState', {value: hidden ? 'hidden' : 'visible',
                                                               configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }""", hidden)

    def screenshot(self, state):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{state}-{self.label}.png")


@pytest.fixture
def make_phone():
    """A mini-program user on the live server, with a profile."""

    def make(server, name, nickname=None, profile=True):
        phone = LivePhone(server, name).login()
        if profile:
            fields = {"nickname": nickname or name, "avatar_url": f"{AVATAR_HOST}/{name}.png"}
            assert phone.set_profile(**fields).status_code == 200
        return phone

    return make


def serve_avatar(route):
    if "missing" in route.request.url:
        route.fulfill(status=404, body="gone")
    else:
        route.fulfill(body=solid_png(72, (7, 193, 96)), content_type="image/png")


def solid_png(size: int, rgb: tuple[int, int, int]) -> bytes:
    """A tiny one-colour PNG, made without an imaging library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size))
            + chunk(b"IEND", b""))
