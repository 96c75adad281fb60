"""Abuse limits: how fast one client may create login codes, poll one, fetch images, sign in.

A client is its browser binding where it has one, and otherwise its address
(the /64 for IPv6, inputs.client_key); per-address limits sit far above what an
office behind one NAT needs. Counters live in RATELIMIT_STORAGE_URI (memory by
default, Redis in production so that every worker and machine shares them).
Each app gets its own Limiter, so two apps in one process (tests, several
configs) never share counters. The caps on open codes are not rates: they are
counted in the database when a ticket is created (see tickets.create).

When the shared store (Redis) is unreachable, limits are not dropped and
requests do not fail: each process counts in its own memory (Flask-Limiter's
in-memory fallback, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED), which is looser by
the number of processes but keeps everyone able to log in. The switch is
logged as a warning and counted in /metrics; Flask-Limiter looks for the store
again with a growing pause (1, 2, 4 ... 32 s) and shared counting resumes.
"""
import logging
import time

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from . import auth, errors, inputs
from .security import hash_secret

# Which error a breached limit becomes, by endpoint; anything else is RateLimited.
_BREACH_ERRORS = {"pc.poll_ticket": errors.SlowDown}


log = logging.getLogger(__name__)
# A store that does not answer must not hold requests up.
REDIS_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


def register_limits(app: Flask) -> None:
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://", "redis+")):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", REDIS_OPTIONS)
    _report_store_outages()
    limiter = Limiter(key_func=_ip_key, app=app)
    app.extensions["qrlogin_limiter"] = limiter
    # Limits are wrapped around this app's view functions (not decorated at
    # import), so each app's limiter and settings stay its own.
    cfg, views = app.config, app.view_functions

    def wrap(endpoint, setting, key_func, **options):
        if cfg.get(setting):
            views[endpoint] = limiter.limit(cfg[setting], key_func=key_func, **options)(views[endpoint])

    # A browser without a binding yet is only held to its address's (much higher) ceiling.
    wrap("pc.create_ticket", "TICKET_RATE_LIMIT", _browser_key, exempt_when=lambda: auth.browser_secret() is None)
    wrap("pc.create_ticket", "TICKET_RATE_LIMIT_PER_ADDRESS", _ip_key)
    # Per ticket and browser: the login page's long-polls (wait=25) use a
    # few per minute; only a client re-asking at once many times trips it.
    wrap("pc.poll_ticket", "POLL_RATE_LIMIT", _poll_key)
    wrap("pc.ticket_qr", "QR_IMAGE_RATE_LIMIT", _browser_key)
    wrap("mp.login", "MP_LOGIN_RATE_LIMIT", _ip_key)

    if app.config.get("PHONE_RATE_LIMIT"):
        # Per user: each phone-number check costs the company money.
        limit = limiter.limit(app.config["PHONE_RATE_LIMIT"], key_func=_mp_user_key)
        views["mp.phone"] = limit(views["mp.phone"])

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded):
        error = _BREACH_ERRORS.get(request.endpoint, errors.RateLimited)
        retry_after = _retry_after(limiter, exc)
        return errors.error_response(error.status, error.code, error.message, {"Retry-After": str(retry_after)})


def _ip_key() -> str:
    return "ip:" + inputs.client_key()  # never empty: Flask-Limiter skips a limit whose key is empty


def _browser_key() -> str:
    # Without a binding cookie the caller is not a bound browser; its address keys
    # it then, so dropping cookies does not reset the count.
    secret = auth.browser_secret()
    return "b:" + hash_secret(secret)[:32] if secret else _ip_key()


def _mp_user_key() -> str:
    try:
        return f"user:{auth.mp_user().id}"
    except errors.ApiError:  # the view answers 401; count it by address meanwhile
        return "ip:" + _ip_key()


def _poll_key() -> str:
    ticket_id = (request.view_args or {}).get("ticket_id", "")[:32]
    return f"{ticket_id}:{_browser_key()}"


def _retry_after(limiter: Limiter, exc: RateLimitExceeded) -> int:
    current = limiter.current_limit
    if current is not None and current.breached:
        return max(1, int(current.reset_at - time.time()))
    return max(1, int(exc.limit.limit.get_expiry()))


class _StoreOutageReport(logging.Handler):
    """Turns Flask-Limiter's own lines about its store (its logger has no output of its
    own) into a warning in the service's log and a /metrics counter."""

    def emit(self, record):
        from . import metrics

        text = record.getMessage()
        if "falling back" in text:
            metrics.ratelimit_storage(up=False)
            log.warning("rate-limit store unreachable: counting in this process's memory until it returns")
        elif "recovered" in text:
            metrics.ratelimit_storage(up=True)
            log.warning("rate-limit store is back: limits are shared again")


def _report_store_outages() -> None:
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(h, _StoreOutageReport) for h in limiter_log.handlers):
        limiter_log.addHandler(_StoreOutageReport())
        limiter_log.setLevel(logging.INFO)  # "recovered" is an info line
