"""Configuration, read from the environment when the app is created (never at import).

`from_env` reads every setting through a parser (a bad value is one line:
ConfigError); `finalize` derives settings and refuses configurations that must
not run. Settings are grouped by concern in the same order in both.
"""
import ipaddress
import logging
import os
import re
import secrets
import sys
from pathlib import Path

import click
from flask.cli import NoAppException

WECHAT_API_BASE = "https://api.weixin.qq.com"
QR_MODES = ("url", "wxacode", "official_account")
WECHAT_ENV_VERSIONS = ("release", "trial", "develop")
WAKE_CHANNELS = ("auto", "none")
LOG_FORMATS = ("json", "text")
ACCESS_POLICIES = ("open", "allowlist")
APP_ENVS = ("production", "development")
# Values that appear in this repository or in examples; never a production key.
KNOWN_WEAK_SECRET_KEYS = {"development-only-secret-key", "test-secret-key", "changeme", "secret", "dev"}
MIN_SECRET_KEY_LENGTH = 32
# The AppID the README uses as an example: a real deployment has its own.
EXAMPLE_APPIDS = {"wx0123456789abcdef"}
DEFAULT_ACCENT_COLOR = "#07c160"  # WeChat's green
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# Where development mode keeps the key it made (`make run` writes the same file).
DEV_SECRET_FILE = "secret_key"

log = logging.getLogger("app.config")
RATE_SETTINGS = ("TICKET_RATE_LIMIT", "TICKET_RATE_LIMIT_PER_ADDRESS", "POLL_RATE_LIMIT", "QR_IMAGE_RATE_LIMIT",
                 "MP_LOGIN_RATE_LIMIT", "PHONE_RATE_LIMIT")
# Where WeChat serves profile pictures; AVATAR_HOSTS adds the service's own storage.
WECHAT_AVATAR_HOSTS = ("thirdwx.qlogo.cn", "wx.qlogo.cn", "mmbiz.qpic.cn")


class ConfigError(NoAppException):
    """The service refuses to start with this configuration: every problem found, one line each.

    A click exception, so the flask CLI prints the lines (and `flask --help` still
    shows its help) instead of a traceback; gunicorn.conf.py prints them the same way.
    """

    exit_code = 1

    def __init__(self, problems):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return [f"Configuration error: {problem}" for problem in self.problems]

    def format_message(self) -> str:
        return "\n".join(self.lines())

    def show(self, file=None) -> None:
        for line in self.lines():
            click.echo(line, err=True)


# --- parsers: each reads one variable and says in one line what is wrong ----------

class Reader:
    """Reads variables through parsers, noting every bad value (and using its default) instead of stopping."""

    def __init__(self, environ, problems: list):
        self.environ, self.problems = environ, problems

    def _read(self, parse, name, default, *args):
        try:
            return parse(self.environ, name, *args)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return default

    def int(self, name, default, minimum=0):
        return self._read(_int, name, default, default, minimum)

    def float(self, name, default, minimum=0.0):
        return self._read(_float, name, default, default, minimum)

    def choice(self, name, choices, default):
        return self._read(_choice, name, default, choices, default)

    def rate(self, name, default):
        return self._read(_rate, name, "", default)

    def url(self, name):
        return self._read(_url, name, None)

    def colour(self, name, default):
        return self._read(_colour, name, default, default)

    def networks(self, name, default):
        return self._read(lambda environ, n: _networks(environ.get(n, default), n), name, [])

    def hosts(self, name):
        return self._read(_hosts, name, [])

    def flag(self, name):
        return self._read(_flag, name, False)

    def text(self, name, default=None):
        return _text(self.environ, name, default)


def _number(environ, name, default, minimum, kind, what):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if not value >= minimum:  # also refuses nan
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _int(environ, name, default, minimum=0):
    return _number(environ, name, default, minimum, int, "a whole number")


def _float(environ, name, default, minimum=0.0):
    value = _number(environ, name, default, minimum, float, "a number")
    if value == float("inf"):
        raise ConfigError(f"{name} must be a finite number, got {environ.get(name)!r}")
    return value


def _flag(environ, name, default=False):
    raw = (environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")
    return raw in ("1", "true", "yes")


def _choice(environ, name, choices, default):
    value = (environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _flag(environ, name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def _text(environ, name, default=None):
    return (environ.get(name) or "").strip() or default


def _rate(environ, name, default):
    """A Flask-Limiter rate such as '30/minute'; set but empty turns the limit off."""
    value = environ.get(name, default).strip()
    _check_rate(name, value)
    return value


def _url(environ, name):
    value = (environ.get(name) or "").strip().rstrip("/") or None
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {value!r}")
    return value


def _colour(environ, name, default):
    value = _text(environ, name, default)
    if not _COLOUR.fullmatch(value):
        raise ConfigError(f"{name} must be a colour like #07c160, got {value!r}")
    return value.lower()


def _hosts(environ, name) -> list:
    hosts = [h.strip().lower() for h in (environ.get(name) or "").split(",") if h.strip()]
    for host in hosts:
        if "/" in host or ":" in host or " " in host:
            raise ConfigError(f"{name} lists host names only (like cdn.example.com), got {host!r}")
    return hosts


def _networks(raw: str, name: str) -> list:
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _check_rate(name: str, value: str) -> None:
    from limits import parse_many

    if not value:
        return
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must look like '30/minute' (or be empty to turn it off), got {value!r}") from None


# --- reading ---------------------------------------------------------------------

def load(overrides: dict | None = None, environ=None, instance_path=".") -> dict:
    """The whole configuration: the environment, then `overrides` (tests), derived and checked.

    Every problem is collected first, so one start reports all of them at once.
    """
    problems: list[str] = []
    config = from_env(environ, instance_path, problems)
    config.update(overrides or {})
    finalize(config, instance_path, problems)
    if problems:
        raise ConfigError(problems)
    return config


def from_env(environ=None, instance_path=".", problems: list | None = None) -> dict:
    """Build the Flask config mapping from environment variables.

    Bad values are added to `problems`; without that list the first one raises ConfigError.
    """
    environ = os.environ if environ is None else environ
    found: list[str] = [] if problems is None else problems
    read = Reader(environ, found)
    app_env = read.choice("APP_ENV", APP_ENVS, "production")
    fallbacks = [k.strip() for k in environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k.strip()]
    default_db = "sqlite:///" + str(Path(instance_path, "qrlogin.sqlite3").resolve())
    config = {
        # --- the service and its keys ---
        "APP_ENV": app_env,
        "SECRET_KEY": environ.get("SECRET_KEY") or None,
        "SECRET_KEY_FALLBACKS": fallbacks,
        "PUBLIC_BASE_URL": read.url("PUBLIC_BASE_URL"),
        # --- the database ---
        "SQLALCHEMY_DATABASE_URI": environ.get("DATABASE_URL") or default_db,
        "SQLALCHEMY_ECHO": environ.get("SQL_ECHO") == "1",  # log every statement (debugging, benchmarks)
        # PostgreSQL connections per process (gunicorn.conf.py sets it from DB_MAX_CONNECTIONS and
        # the number of workers), and how long a request waits for one when all are busy.
        "DB_POOL_SIZE": read.int("DB_POOL_SIZE", 20, minimum=1),
        "DB_POOL_TIMEOUT_SECONDS": read.float("DB_POOL_TIMEOUT_SECONDS", 30.0, minimum=0.1),
        # SQLite: how long a write waits for another writer's lock before the request
        # is answered 503 (Retry-After) instead.
        "SQLITE_BUSY_TIMEOUT_SECONDS": read.float("SQLITE_BUSY_TIMEOUT_SECONDS", 15.0, minimum=0.0),
        # SQLite: below this much free disk beside the database file, /readyz says not ready.
        "SQLITE_MIN_FREE_MB": read.float("SQLITE_MIN_FREE_MB", 1.0, minimum=0.0),
        # --- login codes, polls and sessions ---
        "TICKET_TTL_SECONDS": read.int("TICKET_TTL_SECONDS", 120, minimum=1),
        # After a confirm the PC gets this long to pick its session up, even if
        # the QR's own lifetime runs out meanwhile.
        "CONFIRM_PICKUP_SECONDS": read.int("CONFIRM_PICKUP_SECONDS", 60, minimum=1),
        "POLL_MAX_WAIT_SECONDS": read.int("POLL_MAX_WAIT_SECONDS", 25, minimum=0),
        # A poll is held up to this much (at most a fifth of its wait) less than asked, at
        # random, so pages that started together do not poll again together forever.
        "POLL_HOLD_JITTER_SECONDS": read.float("POLL_HOLD_JITTER_SECONDS", 5.0),
        "SESSION_TTL_SECONDS": read.int("SESSION_TTL_SECONDS", 14 * 24 * 3600, minimum=60),
        "MP_TOKEN_TTL_SECONDS": read.int("MP_TOKEN_TTL_SECONDS", 7 * 24 * 3600, minimum=60),
        # The API's bodies are tiny; anything bigger is refused with a JSON 413.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # A body must have arrived this long after the headers (gevent workers), or the
        # request gets 408: a client trickling its body holds nothing but its own greenlet.
        "BODY_TIMEOUT_SECONDS": read.float("BODY_TIMEOUT_SECONDS", 10.0, minimum=0.1),
        # --- wake-ups (app/wakeups.py) ---
        # How often each process looks for changes made by other processes.
        "WAKE_CHECK_SECONDS": read.float("WAKE_CHECK_SECONDS", 0.5, minimum=0.01),
        # While a broadcast channel (LISTEN/NOTIFY, or local sockets for SQLite) is up,
        # the periodic check only runs this often, as a safety net.
        "WAKE_SAFETY_CHECK_SECONDS": read.float("WAKE_SAFETY_CHECK_SECONDS", 5.0, minimum=0.01),
        # auto: LISTEN/NOTIFY on PostgreSQL, Unix sockets on SQLite; none: periodic check only.
        "WAKE_CHANNEL": read.choice("WAKE_CHANNEL", WAKE_CHANNELS, "auto"),
        # --- WeChat ---
        "WECHAT_APPID": environ.get("WECHAT_APPID") or None,
        "WECHAT_SECRET": environ.get("WECHAT_SECRET") or None,
        "WECHAT_API_BASE": read.url("WECHAT_API_BASE") or WECHAT_API_BASE,
        "WECHAT_TIMEOUT_SECONDS": read.float("WECHAT_TIMEOUT_SECONDS", 5.0, minimum=0.1),
        # url: the QR encodes PUBLIC_BASE_URL/qr/<id>; wxacode: WeChat draws a mini-program code;
        # official_account: WeChat's parametric QR, scanned to follow the Official Account.
        "QR_MODE": read.choice("QR_MODE", QR_MODES, "url"),
        "WECHAT_LOGIN_PAGE": read.text("WECHAT_LOGIN_PAGE", "pages/login/confirm").lstrip("/"),
        "WECHAT_ENV_VERSION": read.choice("WECHAT_ENV_VERSION", WECHAT_ENV_VERSIONS, "release"),
        # Retries only for "busy" (-1) and connections that never reached WeChat.
        "WECHAT_RETRIES": read.int("WECHAT_RETRIES", 2, minimum=0),
        "WECHAT_RETRY_BACKOFF_SECONDS": read.float("WECHAT_RETRY_BACKOFF_SECONDS", 0.2),
        # The access token is renewed this long before WeChat says it expires.
        "WECHAT_TOKEN_MARGIN_SECONDS": read.int("WECHAT_TOKEN_MARGIN_SECONDS", 300),
        # --- the Official Account (QR_MODE=official_account), as its console shows them ---
        "WECHAT_OA_APPID": read.text("WECHAT_OA_APPID"),
        "WECHAT_OA_SECRET": read.text("WECHAT_OA_SECRET"),
        "WECHAT_OA_TOKEN": read.text("WECHAT_OA_TOKEN"),
        # Safe mode's EncodingAESKey; the previous one keeps working while a new one rolls out.
        "WECHAT_OA_AES_KEY": read.text("WECHAT_OA_AES_KEY"),
        "WECHAT_OA_AES_KEY_PREVIOUS": read.text("WECHAT_OA_AES_KEY_PREVIOUS"),
        # 1: the scan itself logs the PC in, with no confirm step (accepts the QRLJacking risk).
        "OA_SCAN_CONFIRMS": read.flag("OA_SCAN_CONFIRMS"),
        # Hosts (besides WeChat's) avatar URLs may point to, e.g. your own storage; comma-separated.
        "AVATAR_HOSTS": read.hosts("AVATAR_HOSTS"),
        # --- how the pages look (app/pc/branding.py) ---
        # Also named in refusals ("this account may not log in to <site>"); default: PUBLIC_BASE_URL's host.
        "SITE_NAME": read.text("SITE_NAME"),
        "LOGO_URL": read.url("LOGO_URL"),
        "ACCENT_COLOR": read.colour("ACCENT_COLOR", DEFAULT_ACCENT_COLOR),
        # The app people scan with, named on the page; empty: WeChat (or the mini-program).
        "SCAN_APP_NAME": read.text("SCAN_APP_NAME"),
        # A link that opens the mini-program on a phone (a WeChat "URL Link"), offered on
        # phone-width screens, where the page's own QR cannot be scanned.
        "MINIPROGRAM_LINK": read.url("MINIPROGRAM_LINK"),
        # --- abuse limits (app/limits.py); an empty rate or 0 turns one off ---
        # Counted per browser first; one address (an IPv6 /64) gets a ceiling far higher,
        # so an office of a few hundred people behind one NAT is never refused.
        "TICKET_RATE_LIMIT": read.rate("TICKET_RATE_LIMIT", "20/minute"),
        "TICKET_RATE_LIMIT_PER_ADDRESS": read.rate("TICKET_RATE_LIMIT_PER_ADDRESS", "600/minute"),
        "MAX_OPEN_TICKETS_PER_BROWSER": read.int("MAX_OPEN_TICKETS_PER_BROWSER", 10),
        "MAX_OPEN_TICKETS_PER_ADDRESS": read.int("MAX_OPEN_TICKETS_PER_ADDRESS", 1000),
        "POLL_RATE_LIMIT": read.rate("POLL_RATE_LIMIT", "120/minute"),
        # Long-polls held at once on one ticket (per worker); the page holds one.
        "MAX_WAITING_POLLS_PER_TICKET": read.int("MAX_WAITING_POLLS_PER_TICKET", 4),
        # QR images per browser (in wxacode mode each new one is a call to WeChat).
        "QR_IMAGE_RATE_LIMIT": read.rate("QR_IMAGE_RATE_LIMIT", "30/minute"),
        # Mini-program sign-ins per address: each one spends WeChat quota and a write.
        "MP_LOGIN_RATE_LIMIT": read.rate("MP_LOGIN_RATE_LIMIT", "60/minute"),
        # Shared by all workers and machines in production: redis://host:6379/N.
        "RATELIMIT_STORAGE_URI": read.text("RATELIMIT_STORAGE_URI", "memory://"),
        # While that store is unreachable, each process counts in its own memory
        # (Flask-Limiter's in-memory fallback) and says so in the log and /metrics.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # A request whose check was already talking to the store when it went away is
        # served uncounted (once), not answered 500.
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Proxies in front of the app that append to X-Forwarded-For; 0 trusts no header.
        "PROXY_FIX_HOPS": read.int("PROXY_FIX_HOPS", 0),
        # --- accounts and access (app/access.py, app/users.py) ---
        # open: anyone with WeChat; allowlist: only people the company named. None: not chosen yet.
        "ACCESS_POLICY": read.text("ACCESS_POLICY", "").lower() or None,
        # Ask every user for their WeChat-verified phone number before they log in.
        "REQUIRE_PHONE": read.flag("REQUIRE_PHONE"),
        # Each phone-number check is a paid WeChat call: how often one user may try.
        "PHONE_RATE_LIMIT": read.rate("PHONE_RATE_LIMIT", "5/hour"),
        # --- operations ---
        "METRICS_TOKEN": environ.get("METRICS_TOKEN") or None,
        "METRICS_ALLOW_IPS": read.networks("METRICS_ALLOW_IPS", "127.0.0.1,::1"),
        "LOG_FORMAT": read.choice("LOG_FORMAT", LOG_FORMATS, "json" if app_env == "production" else "text"),
        # --- OpenID Connect provider (app/provider) ---
        # The issuer apps see; defaults to PUBLIC_BASE_URL (or the request's host).
        "OIDC_ISSUER": read.url("OIDC_ISSUER"),
        # Signing keys, generated on first use and kept (app/provider/keys.py).
        "OIDC_KEYS_FILE": environ.get("OIDC_KEYS_FILE") or str(Path(instance_path, "oidc_keys.json")),
        "OIDC_CODE_TTL_SECONDS": read.int("OIDC_CODE_TTL_SECONDS", 60, minimum=1),
        "OIDC_ACCESS_TOKEN_TTL_SECONDS": read.int("OIDC_ACCESS_TOKEN_TTL_SECONDS", 3600, minimum=60),
        "OIDC_ID_TOKEN_TTL_SECONDS": read.int("OIDC_ID_TOKEN_TTL_SECONDS", 3600, minimum=60),
        "OIDC_REFRESH_TOKEN_TTL_SECONDS": read.int("OIDC_REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600, minimum=60),
        # How long a pending authorization request waits for its scan.
        "OIDC_REQUEST_TTL_SECONDS": read.int("OIDC_REQUEST_TTL_SECONDS", 600, minimum=60),
        # --- forward auth: the sites behind a reverse proxy that asks /auth/verify ---
        # Comma-separated host names; ".corp.example" covers every subdomain.
        "FORWARD_AUTH_HOSTS": read.text("FORWARD_AUTH_HOSTS", ""),
        # Who may enter which host or path: "host[/path] = group, group", one rule per line or ';'.
        "FORWARD_AUTH_RULES": environ.get("FORWARD_AUTH_RULES", ""),
        "FORWARD_AUTH_RULES_FILE": read.text("FORWARD_AUTH_RULES_FILE"),
        # The parent domain the login cookie covers (".corp.example"); unset, it stays host-only.
        "SESSION_COOKIE_DOMAIN": (read.text("SESSION_COOKIE_DOMAIN") or "").lower() or None,
    }
    if problems is None and found:
        raise ConfigError(found)
    return config


# --- deriving and refusing --------------------------------------------------------

def finalize(config: dict, instance_path=".", problems: list | None = None) -> None:
    """Derive settings and refuse configurations that must not run.

    Problems are added to `problems`; without that list they raise ConfigError at the end.
    """
    found: list[str] = [] if problems is None else problems
    _finalize_keys(config, instance_path, found)
    _finalize_database(config, found)
    _finalize_cookies(config)
    for name in RATE_SETTINGS:
        _collect(found, _check_rate, name, config.get(name) or "")
    if isinstance(config.get("METRICS_ALLOW_IPS"), str):  # a test or caller passed the raw text
        config["METRICS_ALLOW_IPS"] = _collect(found, _networks, config["METRICS_ALLOW_IPS"], "METRICS_ALLOW_IPS")
    if isinstance(config.get("ACCENT_COLOR"), str):
        config["ACCENT_COLOR"] = _collect(found, _colour, {"ACCENT_COLOR": config["ACCENT_COLOR"]}, "ACCENT_COLOR",
                                          DEFAULT_ACCENT_COLOR)
    if (config.get("OIDC_ID_TOKEN_TTL_SECONDS") or 0) > 12 * 3600:
        # Retired signing keys stay published for a day (app/provider/keys.py).
        found.append("OIDC_ID_TOKEN_TTL_SECONDS must be at most 43200 (12 hours).")
    _refuse_unsafe(config, found)
    _finalize_access(config, found)
    _collect(found, _finalize_forward_auth, config)
    if problems is None and found:
        raise ConfigError(found)


def _collect(problems: list, check, *args):
    try:
        return check(*args)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _finalize_keys(config: dict, instance_path, problems: list) -> None:
    # Without WeChat credentials the service runs in development login mode:
    # the mini-program API accepts `dev:<name>` codes instead of wx.login codes.
    # A service that logs in only through its Official Account has no mini-program to stand in for.
    config["DEV_LOGIN"] = not config.get("WECHAT_APPID") and not (
        config.get("QR_MODE") == "official_account" and config.get("WECHAT_OA_APPID"))
    if not config.get("SECRET_KEY"):
        if config.get("TESTING"):
            config["SECRET_KEY"] = secrets.token_hex(32)  # never a constant anyone could know
        elif config["APP_ENV"] == "development":
            config["SECRET_KEY"] = development_key(instance_path)
        else:
            problems.append("SECRET_KEY is not set. Set it to a long random value "
                            "(python3 -c 'import secrets; print(secrets.token_hex(32))').")
    # Flask >= 3.1.1 reads SECRET_KEY_FALLBACKS as a list of older keys.
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
    config["SECRET_KEY_FALLBACKS"] = [fallbacks] if isinstance(fallbacks, str) else list(fallbacks)


def development_key(instance_path) -> str:
    """The key development mode signs with: random, made once and kept in the instance folder.

    Several processes may start at once (gunicorn's workers, `flask db upgrade`):
    the file is written aside and linked into place, so every process reads the same whole key.
    """
    path = Path(instance_path, DEV_SECRET_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{DEV_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(aside, path)  # fails if another process got there first: its key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(aside)
    return path.read_text().strip()


def _finalize_database(config: dict, problems: list) -> None:
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql+psycopg://" + uri[len("postgres://"):]
    elif uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
    config["SQLALCHEMY_DATABASE_URI"] = uri
    problem = database_url_problem(uri)
    if problem:
        problems.append(problem)
        return
    if uri.startswith("sqlite"):
        # Busy waits are handled by SQLite itself: the driver's timeout is its busy_timeout.
        busy = config.get("SQLITE_BUSY_TIMEOUT_SECONDS", 15.0)
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": busy}})
    else:
        # No pre-ping (a round trip before every request): a connection the server dropped
        # fails one request, and SQLAlchemy then replaces the whole pool. No overflow:
        # connections opened and closed under a wave cost more than waiting for one.
        config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
            "pool_size": config.get("DB_POOL_SIZE", 20), "max_overflow": 0,
            "pool_timeout": config.get("DB_POOL_TIMEOUT_SECONDS", 30.0), "pool_recycle": 1800,
        })


def database_url_problem(uri: str) -> str | None:
    """What is wrong with a database URL, in one line (None if it names a database this service can use)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "e.g. postgresql+psycopg://user:password@host/db or sqlite:////path/to/file.sqlite3"
    try:
        url = make_url(uri)
    except ArgumentError:
        return f"DATABASE_URL is not a database URL ({example})"
    try:
        url.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        return f"DATABASE_URL names {url.drivername!r}, which this service cannot use ({example})"
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        return f"DATABASE_URL names {url.drivername!r}; this service runs on PostgreSQL or SQLite ({example})"
    return None


def _finalize_cookies(config: dict) -> None:
    secure = (config.get("PUBLIC_BASE_URL") or "").startswith("https://")
    config["COOKIE_SECURE"] = secure
    # The __Host- prefix pins a cookie to this exact host, https and path /. A login
    # cookie shared with the protected sites needs a Domain, which __Host- forbids;
    # __Secure- still keeps it to https.
    prefix = "__Host-" if secure else ""
    shared = "__Secure-" if secure and config.get("SESSION_COOKIE_DOMAIN") else prefix
    config["LOGIN_COOKIE_NAME"] = shared + "qrl_session"
    config["BIND_COOKIE_NAME"] = prefix + "qrl_bind"


def _refuse_unsafe(config: dict, problems: list) -> None:
    """Note every setting that is unsafe or cannot work, one line each."""
    wechat_ready = bool(config.get("WECHAT_APPID") and config.get("WECHAT_SECRET"))
    if config.get("QR_MODE") == "wxacode" and not wechat_ready:
        problems.append("QR_MODE=wxacode needs WECHAT_APPID and WECHAT_SECRET: WeChat draws the mini-program codes.")
    _finalize_official_account(config, problems)
    if config.get("TESTING"):
        return
    if config["APP_ENV"] == "development":
        if config.get("WECHAT_APPID"):
            # Real WeChat users can sign in: the key must be as good as in production.
            log.warning("APP_ENV=development with WECHAT_APPID set: real WeChat users can sign in to a service "
                        "running with development settings. Use APP_ENV=production for anything people rely on.")
            _check_key(config, problems)
        return
    _check_key(config, problems)
    if not (config.get("PUBLIC_BASE_URL") or "").startswith("https://"):
        problems.append("PUBLIC_BASE_URL must be the https:// address people open (cookies and QR codes need it).")
    if config.get("DEV_LOGIN"):
        problems.append(
            "WECHAT_APPID is not set, which turns on development sign-in (anyone signs in as anyone). "
            "Set WECHAT_APPID and WECHAT_SECRET, or run with APP_ENV=development."
        )
    elif config["WECHAT_APPID"] in EXAMPLE_APPIDS:
        problems.append(f"WECHAT_APPID {config['WECHAT_APPID']} is the README's example; "
                        "use your mini-program's own AppID (WeChat admin console: Development > Settings).")
    if config.get("WECHAT_APPID") and not config.get("WECHAT_SECRET"):
        problems.append("WECHAT_SECRET is not set; WeChat sign-in cannot work without it.")
    # Apps trust what the issuer signs and where it sends people: never over plain http.
    if (config.get("OIDC_ISSUER") or "").startswith("http://"):
        problems.append("OIDC_ISSUER must be an https:// URL.")
    if os.environ.get("AUTHLIB_INSECURE_TRANSPORT"):
        problems.append("AUTHLIB_INSECURE_TRANSPORT allows OpenID Connect over plain http; unset it "
                        "(it is for tests and development only).")


def _check_key(config: dict, problems: list) -> None:
    key = config.get("SECRET_KEY")
    if key is None:
        return  # already reported as missing
    # A real key is random: long, and made of many different characters ("x" * 40 is not).
    if len(key) < MIN_SECRET_KEY_LENGTH or key in KNOWN_WEAK_SECRET_KEYS or len(set(key)) < 10:
        problems.append(
            f"SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters "
            "(python3 -c 'import secrets; print(secrets.token_hex(32))')."
        )


def default_instance_path() -> str:
    """The instance folder Flask gives this package (checked before the app exists, e.g. by gunicorn)."""
    return str(Path(__file__).resolve().parent.parent / "instance")


def main() -> int:
    """Check the environment's configuration and print each problem on one line (gunicorn.conf.py runs this)."""
    try:
        load(instance_path=default_instance_path())
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 1
    return 0



# Stand-ins while no Official Account is configured: the development page plays WeChat with them.
OA_DEV_APPID = "wx-development-oa"
OA_DEV_TOKEN = "development"


def _finalize_official_account(config: dict, problems: list) -> None:
    config["OA_DEV"] = False
    if config.get("QR_MODE") != "official_account":
        return
    if not config.get("WECHAT_OA_APPID"):
        if config["APP_ENV"] == "production" and not config.get("TESTING"):
            problems.append("QR_MODE=official_account needs WECHAT_OA_APPID, WECHAT_OA_SECRET and WECHAT_OA_TOKEN "
                            "(or APP_ENV=development to try it without WeChat).")
            return
        config.update(OA_DEV=True, WECHAT_OA_APPID=OA_DEV_APPID, WECHAT_OA_TOKEN=OA_DEV_TOKEN,
                      WECHAT_OA_AES_KEY=None, WECHAT_OA_AES_KEY_PREVIOUS=None)
        return
    missing = [name for name in ("WECHAT_OA_SECRET", "WECHAT_OA_TOKEN") if not config.get(name)]
    if missing:
        problems.append(f"QR_MODE=official_account needs {' and '.join(missing)} "
                        "(the Official Account's console shows them).")
    token = config.get("WECHAT_OA_TOKEN") or ""
    if token and not (3 <= len(token) <= 32 and token.isascii() and token.isalnum()):
        problems.append("WECHAT_OA_TOKEN must be 3 to 32 letters or digits, as the Official Account's console requires.")
    from .oa_messages import aes_key

    for name in ("WECHAT_OA_AES_KEY", "WECHAT_OA_AES_KEY_PREVIOUS"):
        if config.get(name):
            try:
                aes_key(config[name])
            except ValueError as exc:
                problems.append(f"{name}: {exc}, as the console generates it.")
    if config.get("WECHAT_OA_AES_KEY_PREVIOUS") and not config.get("WECHAT_OA_AES_KEY"):
        problems.append("WECHAT_OA_AES_KEY_PREVIOUS is set without WECHAT_OA_AES_KEY.")


def _finalize_access(config: dict, problems: list) -> None:
    """Development and tests default to open; a production start must choose."""
    policy = config.get("ACCESS_POLICY")
    if policy is None:
        if config["APP_ENV"] == "production" and not config.get("TESTING"):
            problems.append(
                "ACCESS_POLICY is not set: choose 'allowlist' (only people you add with `flask users allow`) "
                "or 'open' (anyone with WeChat may log in)."
            )
        policy = "open"
    if policy not in ACCESS_POLICIES:
        problems.append(f"ACCESS_POLICY must be one of {', '.join(ACCESS_POLICIES)}; got {policy!r}")
    config["ACCESS_POLICY"] = policy
    config["REQUIRE_PHONE"] = bool(config.get("REQUIRE_PHONE"))


def _finalize_forward_auth(config: dict) -> None:
    from urllib.parse import urlsplit

    from . import protected_sites

    problems = []
    rules, source = config.get("FORWARD_AUTH_RULES") or "", "FORWARD_AUTH_RULES"
    if config.get("FORWARD_AUTH_RULES_FILE"):
        if rules.strip():
            problems.append("Set FORWARD_AUTH_RULES or FORWARD_AUTH_RULES_FILE, not both")
        source = config["FORWARD_AUTH_RULES_FILE"]
        try:
            rules = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"FORWARD_AUTH_RULES_FILE: cannot read {source}: {getattr(exc, 'strerror', None) or exc}")
            rules = ""
    try:
        sites = protected_sites.load(config.get("FORWARD_AUTH_HOSTS"), rules, source)
    except protected_sites.SitesError as exc:
        problems += exc.problems
        sites = protected_sites.ProtectedSites()
    config["PROTECTED_SITES"] = sites
    domain = config.get("SESSION_COOKIE_DOMAIN")
    public_host = urlsplit(config.get("PUBLIC_BASE_URL") or "").hostname
    if domain:
        dotted = "." + domain.lstrip(".")
        if not protected_sites.parse_url("https://" + dotted[1:]) or "." not in dotted[1:]:
            problems.append(f"SESSION_COOKIE_DOMAIN must be a parent domain like .corp.example, got {domain!r}")
        else:
            if public_host and not (public_host == dotted[1:] or public_host.endswith(dotted)):
                problems.append(f"SESSION_COOKIE_DOMAIN {domain} does not cover PUBLIC_BASE_URL's host {public_host}")
            for host in sites.within_domain(dotted):
                problems.append(f"SESSION_COOKIE_DOMAIN {domain} does not cover the protected host {host}")
    if sites:
        if not public_host:
            problems.append("FORWARD_AUTH_HOSTS needs PUBLIC_BASE_URL: the protected sites send people to its login page")
        if not domain:
            problems.append("FORWARD_AUTH_HOSTS needs SESSION_COOKIE_DOMAIN (e.g. .corp.example) "
                            "so the login cookie reaches the protected sites")
        elif public_host and sites.protects(public_host):
            problems.append(f"PUBLIC_BASE_URL's host {public_host} is in FORWARD_AUTH_HOSTS: the login page cannot "
                            "sit behind itself")
    if problems:
        raise ConfigError(problems)
