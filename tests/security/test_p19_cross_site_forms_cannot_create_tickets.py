"""Property 19: another site cannot create login codes in a visitor's browser. A form post
(urlencoded, multipart, text/plain) to POST /api/tickets is refused, and so is a request the browser
says came from another site (Sec-Fetch-Site, Origin); the refusal leaves the browser's binding
cookie as it was. The login page's own request, and a bodiless POST from curl, scripts or the
terminal client (which no HTML form can send), keep working."""
import pytest

from ..support.assertions import assert_error, cookie_value


@pytest.fixture
def bound(browser):
    """A browser that already holds a binding from an earlier login code."""
    assert browser.post("/api/tickets").status_code == 201
    return browser


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "text/plain"])
def test_property_19_form_bodies_are_refused(bound, content_type):
    before = bound.get_cookie("qrl_bind").value
    answer = bound.post("/api/tickets", data="a=1", content_type=content_type,
                        headers={"Origin": "https://evil.example"})
    assert answer.status_code in (403, 415)
    assert answer.get_json()["error"]["code"] in ("cross_site_request", "unsupported_media_type")
    assert cookie_value(answer, "qrl_bind") is None
    assert bound.get_cookie("qrl_bind").value == before


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_property_19_form_bodies_are_refused_even_without_origin(browser, content_type):
    answer = browser.post("/api/tickets", data="a=1", content_type=content_type)
    assert_error(answer, 415, "unsupported_media_type")
    assert cookie_value(answer, "qrl_bind") is None


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}])
def test_property_19_requests_from_other_sites_are_refused(bound, headers):
    before = bound.get_cookie("qrl_bind").value
    answer = bound.post("/api/tickets", headers=headers)
    assert_error(answer, 403, "cross_site_request")
    assert cookie_value(answer, "qrl_bind") is None
    assert bound.get_cookie("qrl_bind").value == before


def test_property_19_the_login_page_and_tools_keep_working(browser):
    page = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin", "Accept": "application/json"}
    assert browser.post("/api/tickets", headers=page).status_code == 201
    assert browser.post("/api/tickets", json={}).status_code == 201
    assert browser.post("/api/tickets").status_code == 201  # curl -X POST, the terminal client
    assert browser.post("/api/tickets", headers={"Sec-Fetch-Site": "none"}).status_code == 201
