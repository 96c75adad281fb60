"""Start-up: the service refuses configurations that cannot work or are unsafe, in one clear line."""
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from app import create_app
from app.config import KNOWN_WEAK_SECRET_KEYS, ConfigError, load

from bench.live_server import BIN, ROOT, free_port

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
    for app in serve(create_app()):
        kept = Path(app.instance_path, "secret_key").read_text().strip()
        assert app.config["SECRET_KEY"] == kept  # the key `make run` keeps, not a constant


def test_development_key_is_random_kept_private_and_reused(tmp_path):
    environ = {"APP_ENV": "development"}
    first = load(environ=environ, instance_path=tmp_path / "one")["SECRET_KEY"]
    again = load(environ=environ, instance_path=tmp_path / "one")["SECRET_KEY"]
    elsewhere = load(environ=environ, instance_path=tmp_path / "two")["SECRET_KEY"]
    assert first == again  # tokens signed before a restart stay valid
    assert first != elsewhere and len(set(first)) >= 10 and len(first) >= 64
    assert first not in KNOWN_WEAK_SECRET_KEYS
    assert stat.S_IMODE(os.stat(tmp_path / "one" / "secret_key").st_mode) == 0o600


def test_tests_without_a_key_get_a_random_one_too():
    keys = {load({"TESTING": True}, environ={})["SECRET_KEY"] for _ in range(2)}
    assert len(keys) == 2 and not keys & KNOWN_WEAK_SECRET_KEYS


def test_development_with_real_wechat_credentials_needs_a_real_key_and_warns(tmp_path, caplog):
    environ = {"APP_ENV": "development", "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET}
    with pytest.raises(ConfigError, match="SECRET_KEY is too weak"):
        load(environ={**environ, "SECRET_KEY": "short"}, instance_path=tmp_path)
    with caplog.at_level("WARNING", logger="app.config"):
        config = load(environ=environ, instance_path=tmp_path)  # the random development key is strong
    assert config["SECRET_KEY"] == (tmp_path / "secret_key").read_text().strip()
    assert "APP_ENV=development with WECHAT_APPID set" in caplog.text


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
        ({"WECHAT_APPID": "wx0123456789abcdef"}, "WECHAT_APPID wx0123456789abcdef is the README's example"),
        ({"SQLALCHEMY_DATABASE_URI": "mysql://u@db/x"}, "DATABASE_URL names 'mysql', which this service cannot use"),
        ({"SQLALCHEMY_DATABASE_URI": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"ACCENT_COLOR": "green; background: url(x)"}, "ACCENT_COLOR must be a colour like #07c160"),
        ({"ACCESS_POLICY": None}, "ACCESS_POLICY is not set"),
        ({"ACCESS_POLICY": "everyone"}, "ACCESS_POLICY must be one of open, allowlist"),
    ],
)
def test_production_refuses_unsafe_settings_with_one_clear_message(production, change, message):
    with pytest.raises(ConfigError) as refused:
        create_app({**production, **change})
    assert any(message in problem for problem in refused.value.problems), refused.value.problems


def test_every_mistake_is_reported_at_once_one_line_each():
    environ = {"APP_ENV": "production", "TICKET_TTL_SECONDS": "soon", "DATABASE_URL": "nonsense",
               "PUBLIC_BASE_URL": "login.example.com", "WECHAT_APPID": "wx0123456789abcdef"}
    with pytest.raises(ConfigError) as refused:
        load(environ=environ)
    named = ["PUBLIC_BASE_URL must start", "TICKET_TTL_SECONDS", "SECRET_KEY is not set", "DATABASE_URL",
             "PUBLIC_BASE_URL must be the https://", "WECHAT_APPID wx0123456789abcdef", "WECHAT_SECRET",
             "ACCESS_POLICY is not set"]
    assert [next(n for n in named if p.startswith(n)) for p in refused.value.problems] == named
    assert all("\n" not in p for p in refused.value.problems)


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


# --- the same lines from the commands people run ---------------------------------

BAD_PRODUCTION = {"APP_ENV": "production", "TICKET_TTL_SECONDS": "soon", "DATABASE_URL": "nonsense",
                  "WECHAT_APPID": "wx0123456789abcdef"}
BAD_LINES = ["TICKET_TTL_SECONDS must be a whole number", "SECRET_KEY is not set", "DATABASE_URL is not a database URL",
             "PUBLIC_BASE_URL must be the https://", "WECHAT_APPID wx0123456789abcdef is the README's example",
             "WECHAT_SECRET is not set", "ACCESS_POLICY is not set"]


def bare_environment(**settings) -> dict:
    """What a shell without the service's settings has, plus `settings`."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **settings}


def assert_configuration_lines(output: str):
    lines = [line for line in output.splitlines() if "Configuration error: " in line]
    assert len(lines) == len(BAD_LINES), output
    for line, expected in zip(lines, BAD_LINES):
        assert line.split("Configuration error: ", 1)[1].startswith(expected), output
    assert "Traceback" not in output and "File \"" not in output


def test_flask_cli_reports_every_mistake_in_one_line_each():
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                            env=bare_environment(**BAD_PRODUCTION), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert_configuration_lines(result.stderr)
    assert "No such command" not in result.stderr


def test_flask_help_works_without_any_configuration():
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "--help"], cwd=ROOT,
                            env=bare_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "Commands:" in result.stdout and "db" in result.stdout and "tickets" in result.stdout
    assert "Traceback" not in result.stderr
    assert "SECRET_KEY is not set" in result.stderr  # it says why the service itself would not start


def test_gunicorn_reports_every_mistake_at_once_and_exits_before_any_worker(tmp_path):
    environment = bare_environment(**BAD_PRODUCTION, LOG_FORMAT="json", BIND=f"127.0.0.1:{free_port()}",
                                   WORKER_CONNECTIONS="lots")
    result = subprocess.run([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    output = result.stderr
    assert "Configuration error: WORKER_CONNECTIONS must be a whole number of at least 1, got 'lots'" in output
    assert_configuration_lines(output.replace("Configuration error: WORKER_CONNECTIONS", "WORKER_CONNECTIONS"))
    assert "Booting worker" not in output
    # gunicorn's own lines follow LOG_FORMAT=json like the service's.
    own = [line for line in output.splitlines() if "Configuration error: " not in line]
    assert own and all(json.loads(line)["logger"].startswith("gunicorn") for line in own), output
