"""QR_MODE=wxacode: the login page shows WeChat's mini-program code, fetched once per ticket."""
import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import WxacodeImage

from .support.apps import serve

WXACODE = "/wxa/getwxacodeunlimit"
TOKEN = "/cgi-bin/stable_token"


def new_ticket(app):
    browser = app.test_client()
    response = browser.post("/api/tickets")
    assert response.status_code == 201
    return browser, response.get_json()


def test_ticket_points_the_page_at_the_mini_program_code(wxacode_app):
    _, ticket = new_ticket(wxacode_app)
    assert ticket["qr_image_url"] == ticket["qr_png_url"] == f"/api/tickets/{ticket['ticket_id']}/qr.png"
    assert ticket["qr_content"].endswith(f"/qr/{ticket['ticket_id']}")  # still there for other clients


def test_mini_program_code_names_the_ticket_and_the_login_page(wxacode_app, wechat):
    browser, ticket = new_ticket(wxacode_app)
    response = browser.get(ticket["qr_image_url"])
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")
    [call] = [c for c in wechat.calls if c["path"] == WXACODE]
    assert call["json"] == {"scene": ticket["ticket_id"], "page": "pages/login/confirm", "check_path": True,
                            "env_version": "release", "width": 430}


def test_mini_program_code_is_fetched_once_per_ticket_for_all_workers(wxacode_app, config, wechat):
    browser, ticket = new_ticket(wxacode_app)
    first = browser.get(ticket["qr_image_url"]).data
    again = browser.get(ticket["qr_image_url"]).data
    for other_worker in serve(create_app({**config, "QR_MODE": "wxacode"})):
        # The same browser (its binding cookie) reaching another worker.
        same_browser = other_worker.test_client()
        same_browser.set_cookie("qrl_bind", browser.get_cookie("qrl_bind").value)
        from_other = same_browser.get(ticket["qr_image_url"]).data
    assert first == again == from_other
    assert wechat.count(WXACODE) == 1
    assert wechat.count(TOKEN) == 1


def test_each_ticket_gets_its_own_code(wxacode_app, wechat):
    browser, one = new_ticket(wxacode_app)
    _, two = new_ticket(wxacode_app)
    assert browser.get(one["qr_image_url"]).data != browser.get(two["qr_image_url"]).data


@pytest.mark.parametrize(
    "errcode, status, code",
    [(41030, 502, "wechat_page_invalid"), (40169, 502, "wechat_scene_invalid"), (45009, 503, "wechat_quota_exceeded")],
)
def test_wechat_json_error_body_becomes_our_json_error(wxacode_app, wechat, errcode, status, code):
    browser, ticket = new_ticket(wxacode_app)
    wechat.script(WXACODE, ("errcode", errcode))
    response = browser.get(ticket["qr_image_url"])
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    # nothing broken was cached: the next request draws the code
    assert browser.get(ticket["qr_image_url"]).mimetype == "image/png"


def test_unpublished_login_page_is_reported(wxacode_app, wechat):
    wechat.pages = set()
    browser, ticket = new_ticket(wxacode_app)
    response = browser.get(ticket["qr_image_url"])
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "wechat_page_invalid"


def test_expired_ticket_costs_no_wechat_call(wxacode_app, wechat, clock):
    browser, ticket = new_ticket(wxacode_app)
    clock.advance(121)
    response = browser.get(ticket["qr_image_url"])
    assert response.status_code == 410
    assert response.get_json()["error"]["code"] == "ticket_expired"
    assert wechat.count(WXACODE) == 0


def test_url_mode_draws_the_qr_itself(app, wechat):
    browser, ticket = new_ticket(app)
    assert ticket["qr_image_url"] == ticket["qr_svg_url"]
    assert browser.get(ticket["qr_png_url"]).mimetype == "image/png"
    assert wechat.count(WXACODE) == 0


def test_purge_deletes_cached_codes_with_their_tickets(wxacode_app, wechat, clock):
    browser, ticket = new_ticket(wxacode_app)
    browser.get(ticket["qr_image_url"])
    clock.advance(3 * 24 * 3600)
    result = wxacode_app.test_cli_runner().invoke(args=["tickets", "purge"])
    assert result.exit_code == 0, result.output
    with wxacode_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WxacodeImage)) == 0
