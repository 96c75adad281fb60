"""Who may log in: the access policy, blocked users, and group requirements.

ACCESS_POLICY=open lets in anyone with WeChat; allowlist only people the company
named (by verified phone, unionid or user id, on the allowlist or in a group).
A blocked user is refused under either policy. A caller that guards something
narrower (a reverse-proxy rule, an OpenID Connect client) passes `groups`: then
the user must be in at least one of them.

Every refusal made through `check` is logged and counted (/metrics:
qrlogin_access_refused_total by stage and reason).
"""
import logging
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request

from . import errors, metrics, users
from .models import User

OPEN = "open"
ALLOWLIST = "allowlist"
POLICIES = (OPEN, ALLOWLIST)

log = logging.getLogger(__name__)


def refusal_reason(user: User, groups=None) -> str | None:
    """None when the user may log in; otherwise why not: blocked, not_allowed or not_in_group."""
    if user.blocked_at is not None:
        return "blocked"
    if current_app.config["ACCESS_POLICY"] == ALLOWLIST and not users.on_access_list(user):
        return "not_allowed"
    if groups and not set(groups) & set(users.groups_of(user)):
        return "not_in_group"
    return None


def allowed(user: User, groups=None) -> bool:
    return refusal_reason(user, groups) is None


def check(user: User, groups=None, *, stage: str = "check", target: str | None = None) -> None:
    """Raise errors.AccessDenied (logged and counted under `stage`) when the user may not log in.

    `target` names what they may not log in to (an app); by default this site.
    """
    reason = refusal_reason(user, groups)
    if reason is None:
        return
    metrics.access_refused(stage, reason)
    log.warning("login refused: %s", reason,
                extra={"fields": {"user": user.public_id, "stage": stage, "reason": reason}})
    raise errors.AccessDenied(f"This account may not log in to {target or site_name()}.")


def needs_phone(user: User) -> bool:
    """Should the mini-program ask this user for their phone number now?

    Yes when the service requires one (REQUIRE_PHONE), or when an allowlist could
    let them in by a verified number they have not shared yet. A known number is
    never asked for again: each WeChat phone-number call costs money.
    """
    if user.phone is not None or user.blocked_at is not None:
        return False
    if current_app.config["REQUIRE_PHONE"]:
        return True
    return current_app.config["ACCESS_POLICY"] == ALLOWLIST and not users.on_access_list(user)


def site_name() -> str:
    cfg = current_app.config
    if cfg.get("SITE_NAME"):
        return cfg["SITE_NAME"]
    if cfg.get("PUBLIC_BASE_URL"):
        return urlsplit(cfg["PUBLIC_BASE_URL"]).hostname or "this site"
    return request.host if has_request_context() else "this site"
