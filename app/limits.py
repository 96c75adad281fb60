"""Abuse limits: how fast one client may create login codes and poll one.

Counters live in RATELIMIT_STORAGE_URI (memory by default, Redis in production
so that every worker and machine shares them). Each app gets its own Limiter,
so two apps in one process (tests, several configs) never share counters.
The cap on unused codes per address is not a rate: it is counted in the
database when a ticket is created (see tickets.create).
"""
import time

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from . import auth, errors, inputs
from .security import hash_secret

# Which error a breached limit becomes, by endpoint; anything else is RateLimited.
_BREACH_ERRORS = {"pc.poll_ticket": errors.SlowDown}


def register_limits(app: Flask) -> None:
    limiter = Limiter(key_func=_ip_key, app=app)
    app.extensions["qrlogin_limiter"] = limiter
    # Limits are wrapped around this app's view functions (not decorated at
    # import), so each app's limiter and settings stay its own.
    views = app.view_functions
    if app.config.get("TICKET_RATE_LIMIT"):
        limit = limiter.limit(app.config["TICKET_RATE_LIMIT"], key_func=_ip_key)
        views["pc.create_ticket"] = limit(views["pc.create_ticket"])
    if app.config.get("POLL_RATE_LIMIT"):
        # Per ticket and browser: the login page's long-polls (wait=25) use a
        # few per minute; only a client re-asking at once many times trips it.
        limit = limiter.limit(app.config["POLL_RATE_LIMIT"], key_func=_poll_key)
        views["pc.poll_ticket"] = limit(views["pc.poll_ticket"])

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded):
        error = _BREACH_ERRORS.get(request.endpoint, errors.RateLimited)
        retry_after = _retry_after(limiter, exc)
        return errors.error_response(error.status, error.code, error.message, {"Retry-After": str(retry_after)})


def _ip_key() -> str:
    # Never empty: Flask-Limiter skips a limit whose key is empty.
    return inputs.client_ip() or "unknown"


def _poll_key() -> str:
    ticket_id = (request.view_args or {}).get("ticket_id", "")[:32]
    secret = auth.browser_secret()
    # Without a binding cookie the caller is not the bound browser (it gets 403);
    # its address keys it then, so dropping cookies does not reset the count.
    who = hash_secret(secret)[:32] if secret else "ip:" + _ip_key()
    return f"{ticket_id}:{who}"


def _retry_after(limiter: Limiter, exc: RateLimitExceeded) -> int:
    current = limiter.current_limit
    if current is not None and current.breached:
        return max(1, int(current.reset_at - time.time()))
    return max(1, int(exc.limit.limit.get_expiry()))
