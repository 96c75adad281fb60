"""Property 21: QR images are served only for live (pending or scanned) tickets and only to the
browser that created them, rate-limited per browser: nobody farms live codes for a phishing page
or keeps drawing cancelled and expired ones (in wxacode mode each image is a call to WeChat), while
a page that loads its images normally, renewals included, is never refused."""
import pytest

from app import create_app

from ..support.apps import NO_LIMITS, serve
from ..support.assertions import assert_error


def images(client, ticket_id):
    return [client.get(f"/api/tickets/{ticket_id}/qr.{kind}") for kind in ("svg", "png")]


def test_property_21_only_the_creating_browser_gets_the_image(browser, stranger, ticket):
    for answer in images(stranger, ticket["ticket_id"]):
        assert_error(answer, 403, "not_bound_browser")
    assert all(answer.status_code == 200 for answer in images(browser, ticket["ticket_id"]))


@pytest.mark.parametrize("finish, code", [("cancel", "ticket_cancelled"), ("expire", "ticket_expired")])
def test_property_21_finished_tickets_have_no_image(browser, ticket, phone, clock, finish, code):
    if finish == "cancel":
        phone.scan(ticket["ticket_id"])
        phone.cancel(ticket["ticket_id"])
    else:
        clock.advance(121)
    for answer in images(browser, ticket["ticket_id"]):
        assert_error(answer, 410, code)


def test_property_21_a_page_renewing_its_code_is_never_refused(app, browser, clock):
    # Default limits: the page renews its code every time it expires (two images each, to be sure).
    for _ in range(14):
        ticket_id = browser.post("/api/tickets").get_json()["ticket_id"]
        assert all(answer.status_code == 200 for answer in images(browser, ticket_id))
        clock.advance(121)


def test_property_21_images_are_rate_limited_per_browser(config):
    for app in serve(create_app({**config, **NO_LIMITS, "QR_IMAGE_RATE_LIMIT": "3/minute"})):
        browser = app.test_client()
        ticket_id = browser.post("/api/tickets").get_json()["ticket_id"]
        for _ in range(3):
            assert browser.get(f"/api/tickets/{ticket_id}/qr.svg").status_code == 200
        refused = browser.get(f"/api/tickets/{ticket_id}/qr.svg")
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
