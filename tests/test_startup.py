"""Start-up: the service refuses configurations that cannot work or are unsafe, in one clear line."""
import pytest

from app import create_app
from app.config import ConfigError

from .support.apps import serve
from .support.fake_wechat import APPID, SECRET


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_development_mode_starts_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    assert create_app().config["SECRET_KEY"]


def test_bad_numbers_in_the_environment_are_refused(monkeypatch):
    monkeypatch.setenv("TICKET_TTL_SECONDS", "soon")
    with pytest.raises(ConfigError, match="TICKET_TTL_SECONDS"):
        create_app({"TESTING": True})


@pytest.mark.parametrize("name, value", [
    ("WAKE_CHECK_SECONDS", "often"),
    ("WAKE_SAFETY_CHECK_SECONDS", "-1"),
    ("WECHAT_TIMEOUT_SECONDS", "nan"),
    ("WAKE_CHANNEL", "pigeons"),
    ("POLL_MAX_WAIT_SECONDS", "1.5"),
])
def test_every_setting_is_parsed_and_a_bad_value_names_itself(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name) as refused:
        create_app({"TESTING": True})
    assert "\n" not in str(refused.value)


# --- start-up checks in production ---------------------------------------------

@pytest.fixture
def production(tmp_path, fake_wechat):
    """Settings a real deployment would use; each test spoils one."""
    return {
        "APP_ENV": "production",
        "SECRET_KEY": "9f6c1e0b7a4d4c2f8e3b5a7d1c9e0f2a",
        "PUBLIC_BASE_URL": "https://login.example.com",
        "WECHAT_APPID": APPID,
        "WECHAT_SECRET": SECRET,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/prod.sqlite3",
        "ACCESS_POLICY": "allowlist",
    }


def test_production_starts_with_safe_settings(production):
    for app in serve(create_app(production)):
        assert app.config["COOKIE_SECURE"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"SECRET_KEY": "short-key"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "development-only-secret-key"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "x" * 64}, "SECRET_KEY is too weak"),
        ({"PUBLIC_BASE_URL": "http://login.example.com"}, "PUBLIC_BASE_URL must be the https://"),
        ({"PUBLIC_BASE_URL": None}, "PUBLIC_BASE_URL must be the https://"),
        ({"WECHAT_APPID": None, "WECHAT_SECRET": None}, "development sign-in"),
        ({"WECHAT_SECRET": None}, "WECHAT_SECRET is not set"),
        ({"QR_MODE": "wxacode", "WECHAT_SECRET": None}, "QR_MODE=wxacode needs WECHAT_APPID and WECHAT_SECRET"),
        ({"ACCESS_POLICY": None}, "ACCESS_POLICY is not set"),
        ({"ACCESS_POLICY": "everyone"}, "ACCESS_POLICY must be one of open, allowlist"),
    ],
)
def test_production_refuses_unsafe_settings_with_one_clear_message(production, change, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        create_app({**production, **change})


def test_tests_and_development_may_use_short_keys(production):
    for testing in (
        {"TESTING": True, "SECRET_KEY": "short", "PUBLIC_BASE_URL": None},
        {"APP_ENV": "development", "SECRET_KEY": "short", "WECHAT_APPID": None},
    ):
        for app in serve(create_app({**production, **testing})):
            assert app.config["SECRET_KEY"] == "short"


def test_bad_metrics_addresses_are_refused(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOW_IPS", "10.0.0.0/8,not-an-address")
    with pytest.raises(ConfigError, match="METRICS_ALLOW_IPS"):
        create_app({"TESTING": True})
