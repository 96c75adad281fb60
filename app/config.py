"""Configuration, read from the environment when the app is created (never at import)."""
import os
from pathlib import Path

WECHAT_API_BASE = "https://api.weixin.qq.com"


class ConfigError(RuntimeError):
    """The service refuses to start with this configuration."""


def _int(environ, name, default, minimum=0):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def from_env(environ=None, instance_path=".") -> dict:
    """Build the Flask config mapping from environment variables."""
    environ = os.environ if environ is None else environ
    app_env = environ.get("APP_ENV", "production").strip().lower()
    if app_env not in ("production", "development"):
        raise ConfigError(f"APP_ENV must be 'production' or 'development', got {app_env!r}")
    default_db = "sqlite:///" + str(Path(instance_path, "qrlogin.sqlite3").resolve())
    public_base = environ.get("PUBLIC_BASE_URL", "").strip().rstrip("/") or None
    if public_base and not public_base.startswith(("http://", "https://")):
        raise ConfigError("PUBLIC_BASE_URL must start with http:// or https://")
    fallbacks = [k for k in environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k.strip()]
    return {
        "APP_ENV": app_env,
        "SECRET_KEY": environ.get("SECRET_KEY") or None,
        "SECRET_KEY_FALLBACKS": [k.strip() for k in fallbacks],
        "SQLALCHEMY_DATABASE_URI": environ.get("DATABASE_URL") or default_db,
        "SQLALCHEMY_ECHO": environ.get("SQL_ECHO") == "1",  # log every statement (debugging, benchmarks)
        "PUBLIC_BASE_URL": public_base,
        "TICKET_TTL_SECONDS": _int(environ, "TICKET_TTL_SECONDS", 120, minimum=1),
        # After a confirm the PC gets this long to pick its session up, even if
        # the QR's own lifetime runs out meanwhile.
        "CONFIRM_PICKUP_SECONDS": _int(environ, "CONFIRM_PICKUP_SECONDS", 60, minimum=1),
        "POLL_MAX_WAIT_SECONDS": _int(environ, "POLL_MAX_WAIT_SECONDS", 25, minimum=0),
        # How often each process looks for changes made by other processes.
        "WAKE_CHECK_SECONDS": float(environ.get("WAKE_CHECK_SECONDS", "0.5")),
        # While a broadcast channel (LISTEN/NOTIFY, or local sockets for SQLite) is up,
        # the periodic check only runs this often, as a safety net.
        "WAKE_SAFETY_CHECK_SECONDS": float(environ.get("WAKE_SAFETY_CHECK_SECONDS", "5")),
        # auto: LISTEN/NOTIFY on PostgreSQL, Unix sockets on SQLite; none: periodic check only.
        "WAKE_CHANNEL": environ.get("WAKE_CHANNEL", "auto"),
        "SESSION_TTL_SECONDS": _int(environ, "SESSION_TTL_SECONDS", 14 * 24 * 3600, minimum=60),
        "MP_TOKEN_TTL_SECONDS": _int(environ, "MP_TOKEN_TTL_SECONDS", 7 * 24 * 3600, minimum=60),
        "WECHAT_APPID": environ.get("WECHAT_APPID") or None,
        "WECHAT_SECRET": environ.get("WECHAT_SECRET") or None,
        "WECHAT_API_BASE": (environ.get("WECHAT_API_BASE") or WECHAT_API_BASE).rstrip("/"),
        "WECHAT_TIMEOUT_SECONDS": float(environ.get("WECHAT_TIMEOUT_SECONDS", "5")),
        # The API's bodies are tiny; anything bigger is refused with a JSON 413.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # --- abuse limits (see app/limits.py); an empty rate or 0 turns one off ---
        "TICKET_RATE_LIMIT": environ.get("TICKET_RATE_LIMIT", "30/minute").strip(),
        "MAX_PENDING_TICKETS_PER_IP": _int(environ, "MAX_PENDING_TICKETS_PER_IP", 20),
        "POLL_RATE_LIMIT": environ.get("POLL_RATE_LIMIT", "120/minute").strip(),
        # Shared by all workers and machines in production: redis://host:6379/N.
        "RATELIMIT_STORAGE_URI": environ.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://",
        # Proxies in front of the app that append to X-Forwarded-For; 0 trusts no header.
        "PROXY_FIX_HOPS": _int(environ, "PROXY_FIX_HOPS", 0),
    }


def finalize(config: dict) -> None:
    """Derive settings and refuse configurations that must not run."""
    if not config.get("SECRET_KEY"):
        if config["APP_ENV"] == "development" or config.get("TESTING"):
            config["SECRET_KEY"] = "development-only-secret-key"
        else:
            raise ConfigError(
                "SECRET_KEY is not set. Set it to a long random value "
                "(python3 -c 'import secrets; print(secrets.token_hex(32))')."
            )
    # Without WeChat credentials the service runs in development login mode:
    # the mini-program API accepts `dev:<name>` codes instead of wx.login codes.
    config["DEV_LOGIN"] = not config.get("WECHAT_APPID")
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql+psycopg://" + uri[len("postgres://"):]
    elif uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
    config["SQLALCHEMY_DATABASE_URI"] = uri
    if uri.startswith("sqlite"):
        # Busy waits are handled by SQLite itself (busy_timeout, see db.py).
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 15}})
    else:
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20})
    secure = (config.get("PUBLIC_BASE_URL") or "").startswith("https://")
    config["COOKIE_SECURE"] = secure
    # The __Host- prefix pins a cookie to this exact host, https and path /.
    prefix = "__Host-" if secure else ""
    config["LOGIN_COOKIE_NAME"] = prefix + "qrl_session"
    config["BIND_COOKIE_NAME"] = prefix + "qrl_bind"
    # Flask >= 3.1.1 reads SECRET_KEY_FALLBACKS as a list of older keys.
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
    config["SECRET_KEY_FALLBACKS"] = [fallbacks] if isinstance(fallbacks, str) else list(fallbacks)
    for name in ("TICKET_RATE_LIMIT", "POLL_RATE_LIMIT"):
        _check_rate(name, config.get(name) or "")


def _check_rate(name: str, value: str) -> None:
    from limits import parse_many

    if not value:
        return
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must look like '30/minute' (or be empty to turn it off), got {value!r}") from None
