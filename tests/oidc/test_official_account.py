"""Logging in to another app by following the Official Account: the app's groups apply, the phone names it."""
import re

import pytest
import xmltodict

from app import create_app

from ..support.apps import official_account, serve
from ..support.fake_wechat import FakeWeChat

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
def app(config, wechat):
    """The provider, with people logging in through the Official Account."""
    yield from serve(create_app(official_account(config)))


def ticket_for(browser, relying_party) -> str:
    request_id = browser.get(relying_party.authorize_url()).headers["Location"].split("=", 1)[1]
    created = browser.post("/api/tickets", json={"authorization_request": request_id})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["ticket_id"]


def scan(app, ticket_id, **options) -> str:
    push = FakeWeChat.push_request(FakeWeChat.event(OPENID, ticket_id, **options))
    response = app.test_client().post("/api/oa/callback", query_string=push.query, data=push.body,
                                      headers=push.headers)
    assert response.status_code == 200
    return xmltodict.parse(response.data)["xml"]["Content"]


def test_a_follower_outside_the_apps_groups_is_refused_once_known(app, browser, register):
    ticket_id = ticket_for(browser, register(name="Grafana", allowed_groups=["ops"]))
    # A new follower is known only once the confirm page learned their unionid: refused there.
    link = re.search(r"http://localhost(/oa/confirm/[\w-]+)", scan(app, ticket_id)).group(1)
    refused = app.test_client().get(link)
    assert refused.status_code == 403 and "may not log in to Grafana" in refused.get_data(as_text=True)
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "denied"
    # Known from then on: their next scan is refused at once, in the chat.
    ticket_id = ticket_for(browser, register(name="Grafana 2", allowed_groups=["ops"]))
    assert "This account may not log in to Grafana 2." in scan(app, ticket_id, create_time=1)
    assert browser.get(f"/api/tickets/{ticket_id}").get_json()["status"] == "denied"


def test_the_confirm_page_names_the_app(app, browser, register):
    ticket_id = ticket_for(browser, register(name="Wiki"))
    link = re.search(r"http://localhost(/oa/confirm/[\w-]+)", scan(app, ticket_id)).group(1)
    page = app.test_client().get(link, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Log in to Wiki" in page and "Wiki will learn your name and picture." in page
