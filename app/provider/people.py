"""What the provider needs to know about a person, asked of the accounts module in one place.

The accounts contract: `User.public_id` (stable, opaque, never the openid), `User.phone`
and `User.phone_verified_at`, `User.blocked_at`, `users.groups_of(user)` and
`access.allowed(user, groups)`.
"""
import base64
import hashlib
import hmac

from flask import current_app

from ..models import User

try:  # the accounts module (users, groups, access rules)
    from .. import access as _access
    from .. import users as _users
except ImportError:  # not merged yet: nobody belongs to a group, everyone may log in
    _access = _users = None


def subject(user: User) -> str:
    """The `sub` claim: the user's public id, the same for every app."""
    public_id = getattr(user, "public_id", None)
    if public_id:
        return public_id
    # Without the accounts module: a stable opaque id derived from the row id.
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"user:{user.id}".encode(), hashlib.sha256)
    return "u_" + base64.urlsafe_b64encode(digest.digest()).decode()[:20]


def groups(user: User) -> list[str]:
    return list(_users.groups_of(user)) if _users is not None else []


def allowed(user: User, groups_: list[str] | None) -> bool:
    """May this person log in to an app open to `groups_` (empty: to anyone let in at all)?"""
    if _access is not None:
        return _access.allowed(user, groups_ or None)
    return not groups_


def blocked(user: User) -> bool:
    return getattr(user, "blocked_at", None) is not None


def phone(user: User) -> tuple[str | None, bool]:
    """The phone number and whether it was verified (only verified numbers are kept)."""
    number = getattr(user, "phone", None)
    return number, bool(number and getattr(user, "phone_verified_at", None))
