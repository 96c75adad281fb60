"""Who the person is and what they may enter, as the accounts module answers it.

Until accounts and access land, nobody is in a group and only "anyone allowed in" admits.
"""
try:
    from ..access import allowed
    from ..users import groups_of
except ImportError:  # accounts not merged yet
    def groups_of(user) -> list[str]:
        return []

    def allowed(user, groups=None) -> bool:
        return not groups


def public_id(user) -> str:
    return getattr(user, "public_id", None) or f"u_{user.id}"


def phone(user) -> str:
    return getattr(user, "phone", None) or ""
