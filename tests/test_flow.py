"""The whole scan-to-login flow through the HTTP API, WeChat faked by a real server."""
from .support.phone import Phone


def test_scan_confirm_logs_the_pc_in(app, browser, fake_wechat):
    created = browser.post("/api/tickets")
    assert created.status_code == 201
    ticket = created.get_json()
    assert ticket["status"] == "pending"
    assert ticket["qr_content"] == f"http://localhost/qr/{ticket['ticket_id']}"
    assert 0 < ticket["expires_in"] <= 120

    phone = Phone(app.test_client(), "ok-carol").login()
    assert phone.set_profile(nickname="Carol", avatar_url="https://thirdwx.qlogo.cn/mmopen/carol/132").status_code == 200

    scanned = phone.scan(ticket["ticket_id"])
    assert scanned.status_code == 200
    assert scanned.get_json()["status"] == "scanned"
    assert scanned.get_json()["pc"]["ip"] == "127.0.0.1"

    seen = browser.get(f"/api/tickets/{ticket['ticket_id']}").get_json()
    assert seen["status"] == "scanned"
    assert seen["scanned_by"] == {"nickname": "Carol", "avatar_url": "https://thirdwx.qlogo.cn/mmopen/carol/132"}
    assert browser.get("/api/me").status_code == 401

    assert phone.confirm(ticket["ticket_id"]).get_json()["status"] == "confirmed"

    done = browser.get(f"/api/tickets/{ticket['ticket_id']}")
    assert done.get_json()["status"] == "confirmed"
    cookie = done.headers.get("Set-Cookie")
    assert "qrl_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie

    me = browser.get("/api/me")
    assert me.status_code == 200
    assert me.get_json()["user"]["nickname"] == "Carol"
    assert me.get_json()["user"]["id"] == phone.user["id"]

    # WeChat saw exactly our app's credentials and the phone's code.
    call = [c for c in fake_wechat.calls if c["query"].get("js_code") == "ok-carol"][-1]
    assert call["path"] == "/sns/jscode2session"


def test_mini_program_login_never_reveals_session_key(app):
    response = app.test_client().post("/api/mp/login", json={"code": "ok-dave"})
    assert response.status_code == 200
    assert "session_key" not in response.get_data(as_text=True)
    assert "secret-session-key" not in response.get_data(as_text=True)
    body = response.get_json()
    assert body["expires_in"] > 0 and body["user"]["id"].startswith("u_")


def test_same_wechat_user_signs_in_as_the_same_account(app):
    first = Phone(app.test_client(), "ok-erin").login()
    second = Phone(app.test_client(), "ok-erin").login()
    assert first.user["id"] == second.user["id"]


def test_qr_images_encode_the_ticket(browser, ticket):
    svg = browser.get(f"/api/tickets/{ticket['ticket_id']}/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data
    png = browser.get(f"/api/tickets/{ticket['ticket_id']}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG")
    assert browser.get("/api/tickets/NoSuchTicketAAAAAAAAAA/qr.svg").status_code == 404
    assert browser.get(f"/api/tickets/{ticket['ticket_id']}/qr.gif").status_code == 404


def test_qr_content_follows_public_base_url(config):
    from app import create_app

    app = create_app({**config, "PUBLIC_BASE_URL": "https://login.example.com"})
    ticket = app.test_client().post("/api/tickets").get_json()
    assert ticket["qr_content"] == f"https://login.example.com/qr/{ticket['ticket_id']}"


def test_dev_mode_logs_in_with_dev_codes(dev_app):
    pc = dev_app.test_client()
    ticket = pc.post("/api/tickets").get_json()
    phone = Phone(dev_app.test_client(), "dev:frank").login()
    assert phone.user["nickname"] == "frank"
    assert phone.scan(ticket["ticket_id"]).status_code == 200
    assert phone.confirm(ticket["ticket_id"]).status_code == 200
    assert pc.get(f"/api/tickets/{ticket['ticket_id']}").get_json()["status"] == "confirmed"
    assert pc.get("/api/me").get_json()["user"]["nickname"] == "frank"


def test_dev_codes_are_refused_when_wechat_is_configured(app):
    response = app.test_client().post("/api/mp/login", json={"code": "dev:mallory"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "dev_login_disabled"


def test_dev_mode_refuses_real_wechat_codes(dev_app):
    response = dev_app.test_client().post("/api/mp/login", json={"code": "ok-someone"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
