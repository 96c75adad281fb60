"""What the provider needs to know about a person, asked of the accounts module in one place.

The accounts contract: `User.public_id` (stable, opaque, never the openid), `User.phone`
and `User.phone_verified_at`, `User.blocked_at`, `users.groups_of(user)` and
`access.allowed(user, groups)`.
"""
from .. import access, users
from ..models import User


def subject(user: User) -> str:
    """The `sub` claim: the user's public id, the same for every app."""
    return user.public_id


def groups(user: User) -> list[str]:
    return list(users.groups_of(user))


def allowed(user: User, groups_: list[str] | None) -> bool:
    """May this person log in to an app open to `groups_` (empty: to anyone let in at all)?"""
    return access.allowed(user, groups_ or None)


def blocked(user: User) -> bool:
    return user.blocked_at is not None


def phone(user: User) -> tuple[str | None, bool]:
    """The phone number and whether it was verified (only verified numbers are kept)."""
    return user.phone, bool(user.phone and user.phone_verified_at)
