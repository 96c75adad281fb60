"""Property 7: poll answers reveal nothing about the user to anyone but the bound browser, and
only nickname and avatar before login. Stops the study's "leaking user data" flaw."""
from ..support.assertions import assert_error


def test_property_07_bound_browser_sees_only_nickname_and_avatar(browser, ticket, phone):
    phone.set_profile(nickname="Alice", avatar_url="https://thirdwx.qlogo.cn/mmopen/a/132")
    phone.scan(ticket["ticket_id"])
    body = browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()
    assert body["scanned_by"] == {"nickname": "Alice", "avatar_url": "https://thirdwx.qlogo.cn/mmopen/a/132"}
    assert set(body) == {"ticket_id", "status", "expires_in", "expires_at", "scanned_by"}
    text = str(body)
    for private in ("o-alice", "u-alice", "openid", "unionid", "session_key"):
        assert private not in text


def test_property_07_pending_ticket_names_nobody(browser, ticket):
    body = browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()
    assert "scanned_by" not in body


def test_property_07_strangers_learn_nothing_about_the_user(stranger, browser, ticket, phone):
    phone.set_profile(nickname="Alice")
    phone.scan(ticket["ticket_id"])
    refused = stranger.get(f"/api/tickets/{ticket['ticket_id']}")
    assert_error(refused, 403)
    assert "Alice" not in refused.get_data(as_text=True)
    phone.confirm(ticket["ticket_id"])
    refused = stranger.get(f"/api/tickets/{ticket['ticket_id']}")
    assert_error(refused, 403)
    assert "Alice" not in refused.get_data(as_text=True)
