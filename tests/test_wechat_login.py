"""Signing in from the mini-program against the fake WeChat server's answers."""
import pytest


@pytest.mark.parametrize(
    "code, status, error",
    [
        ("err-40029", 400, "wechat_code_invalid"),
        ("unknown-code", 400, "wechat_code_invalid"),
        ("err-40163", 400, "wechat_code_used"),
        ("err-45011", 429, "wechat_rate_limited"),
        ("err-40226", 403, "wechat_user_blocked"),
        ("err-99999", 502, "wechat_failed"),
        ("http-500", 502, "wechat_failed"),
        ("not-json", 502, "wechat_failed"),
    ],
)
def test_wechat_errors_map_to_clear_json_errors(app, code, status, error):
    response = app.test_client().post("/api/mp/login", json={"code": code})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == error


def test_busy_wechat_is_503_with_retry_after(app):
    response = app.test_client().post("/api/mp/login", json={"code": "err--1"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "wechat_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_wechat_timeout_is_503(app):
    # The fake answers after 3 s; the test config gives WeChat 1 s.
    response = app.test_client().post("/api/mp/login", json={"code": "slow-3"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "wechat_unavailable"


def test_unreachable_wechat_is_503(config):
    from app import create_app

    app = create_app({**config, "WECHAT_API_BASE": "http://127.0.0.1:9"})
    response = app.test_client().post("/api/mp/login", json={"code": "ok-x"})
    assert response.status_code == 503


def test_wrong_app_credentials_are_a_server_side_failure(config):
    from app import create_app

    app = create_app({**config, "WECHAT_SECRET": "wrong"})
    response = app.test_client().post("/api/mp/login", json={"code": "ok-x"})
    assert response.status_code == 502
    assert "wrong" not in response.get_data(as_text=True)


def test_failed_sign_in_creates_no_user(app):
    from app.extensions import db
    from app.models import User

    app.test_client().post("/api/mp/login", json={"code": "err-40029"})
    with app.app_context():
        assert db.session.query(User).count() == 0
