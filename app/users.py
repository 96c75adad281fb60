"""People: who signs in (identities, linked by unionid), their verified phone, groups, blocking.

The identity model:
- a user is a person; other software knows them only by `public_id` ("u_...").
- an identity is one way in: (provider, app id, openid) of one WeChat app, or a development name.
- WeChat's unionid is the same for one person in every app bound to the company's Open
  Platform account, so an identity bringing a known unionid joins that person's user.
- the phone number is stored only once WeChat has verified it.
- access lists (app/access.py) name people by verified phone, unionid or user id.
"""
import re
import unicodedata
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from . import auth, clock, config, errors
from .extensions import db
from .models import AccessEntry, Identity, User

PROVIDERS = ("wechat_mp", "wechat_oa", "dev")
ENTRY_KINDS = ("phone", "unionid", "user")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_GROUP = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")

# What the PC page shows of the person who scanned: whoever scans first chooses it,
# so it must not be able to reorder or hide the page's own words.
NICKNAME_MAX_CHARS = 32
NICKNAME_MAX_WIDTH = 32  # display columns; a Chinese character takes two
# Bidi embeddings, overrides and isolates; zero-width spaces, joiners and marks.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2060\ufeff]")


def clean_nickname(text: str) -> str:
    """The nickname without invisible direction and zero-width characters, trimmed."""
    return _INVISIBLE.sub("", text).strip()


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1
               for c in text)


def _fit(text: str) -> str:
    """Cut a nickname WeChat gave us to what the page shows (a profile update is refused instead)."""
    text = clean_nickname(text)[:NICKNAME_MAX_CHARS]
    while display_width(text) > NICKNAME_MAX_WIDTH:
        text = text[:-1]
    return text


def avatar_allowed(url: str, extra_hosts=()) -> bool:
    """https on WeChat's image hosts or the service's own (AVATAR_HOSTS); the service never fetches it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return (parts.scheme == "https" and port in (None, 443) and not parts.username and not parts.password
            and host in (*config.WECHAT_AVATAR_HOSTS, *extra_hosts))


def find_or_create(identity: dict) -> User:
    """The user this identity belongs to, created (with the identity) on first sign-in. Commits.

    `identity`: {"provider", "appid", "openid", "unionid"?, "nickname"?}. Two sign-ins of
    one new person at the same moment end with one user: the loser's insert fails on
    a unique key and it reads the winner's rows.
    """
    provider, appid, openid = identity["provider"], identity.get("appid") or "", identity["openid"]
    unionid = identity.get("unionid") or None
    if provider not in PROVIDERS:
        raise ValueError(f"unknown identity provider {provider!r}")
    for _ in range(3):
        try:
            user = _find_or_create(provider, appid, openid, unionid, identity.get("nickname") or "")
            db.session.commit()
            return user
        except IntegrityError:  # the same person signed in twice at once; theirs won
            db.session.rollback()
    raise errors.InvalidRequest("Signing in collided with another sign-in; try again.")


def _find_or_create(provider: str, appid: str, openid: str, unionid: str | None, nickname: str) -> User:
    row = db.session.scalar(
        sa.select(Identity)
        .where(Identity.provider == provider, Identity.openid == openid, Identity.appid.in_((appid, "")))
        .order_by(Identity.appid.desc())  # the exact app id before a legacy ""
    )
    if row is not None:
        if row.appid != appid:  # recorded before app ids were kept: it is this app's
            db.session.execute(sa.update(Identity).where(Identity.id == row.id, Identity.appid == "")
                               .values(appid=appid))
        if unionid and row.unionid != unionid:
            db.session.execute(sa.update(Identity).where(Identity.id == row.id).values(unionid=unionid))
        user = db.session.get(User, row.user_id, populate_existing=True)
        if unionid and user.unionid is None:
            _claim_unionid(user, unionid)
        return user
    user = db.session.scalar(sa.select(User).where(User.unionid == unionid)) if unionid else None
    if user is None:
        user = User(unionid=unionid, nickname=_fit(nickname))
        db.session.add(user)
        db.session.flush()
    db.session.add(Identity(user_id=user.id, provider=provider, appid=appid, openid=openid, unionid=unionid))
    db.session.flush()
    return user


def _claim_unionid(user: User, unionid: str) -> None:
    """Record the person's unionid, unless another user already holds it (then both stay apart)."""
    if db.session.scalar(sa.select(User.id).where(User.unionid == unionid)) is not None:
        current_app.logger.warning("unionid already belongs to another user; accounts not merged",
                                   extra={"fields": {"user": user.public_id}})
        return
    db.session.execute(sa.update(User).where(User.id == user.id, User.unionid.is_(None)).values(unionid=unionid))
    db.session.refresh(user)


def update_profile(user: User, *, nickname: str | None = None, avatar_url: str | None = None,
                   avatar_hosts=()) -> User:
    """Set what the PC page shows after a scan; the caller commits."""
    if nickname is None and avatar_url is None:
        raise errors.InvalidRequest("Send 'nickname' and/or 'avatar_url'.")
    if nickname is not None:
        nickname = clean_nickname(nickname)
        if not nickname or len(nickname) > NICKNAME_MAX_CHARS or display_width(nickname) > NICKNAME_MAX_WIDTH:
            raise errors.InvalidRequest(
                f"'nickname' must show as 1 to {NICKNAME_MAX_WIDTH} columns (a Chinese character takes two).")
    if avatar_url is not None and not avatar_allowed(avatar_url, avatar_hosts):
        hosts = ", ".join((*config.WECHAT_AVATAR_HOSTS, *avatar_hosts))
        raise errors.InvalidRequest(f"'avatar_url' must be an https:// URL on one of: {hosts}.")
    values = {k: v for k, v in (("nickname", nickname), ("avatar_url", avatar_url)) if v is not None}
    db.session.execute(sa.update(User).where(User.id == user.id).values(**values))
    db.session.flush()
    db.session.refresh(user)
    return user


def openid_of(user: User, provider: str, appid: str) -> str | None:
    """The user's openid in one app (e.g. the mini-program's, for phone number calls)."""
    return db.session.scalar(
        sa.select(Identity.openid)
        .where(Identity.user_id == user.id, Identity.provider == provider, Identity.appid.in_((appid, "")))
        .order_by(Identity.appid.desc())
    )


def identities_of(user: User) -> list[Identity]:
    return list(db.session.scalars(sa.select(Identity).where(Identity.user_id == user.id).order_by(Identity.id)))


def set_verified_phone(user: User, phone: str) -> None:
    """Store a number WeChat verified (E.164)."""
    db.session.execute(sa.update(User).where(User.id == user.id)
                       .values(phone=phone, phone_verified_at=clock.utcnow()))
    db.session.refresh(user)


# --- finding people (CLI, access lists) ---------------------------------------

def normalize_phone(raw: str) -> str:
    """"+86 138-0000-0000" -> "+8613800000000"; anything else raises errors.InvalidPhone."""
    phone = re.sub(r"[\s\-()]", "", raw or "")
    if not _E164.fullmatch(phone):
        raise errors.InvalidPhone(
            f"{raw!r} is not a phone number in international form, e.g. +8613800000000.")
    return phone


def normalize_group(raw: str) -> str:
    group = (raw or "").strip().lower()
    if not _GROUP.fullmatch(group):
        raise errors.InvalidRequest(
            f"{raw!r} is not a group name: 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit.")
    return group


def entry_key(kind: str, value: str) -> tuple[str, str]:
    """(kind, normalized value) naming a person in the access lists; bad input raises."""
    if kind == "phone":
        return kind, normalize_phone(value)
    if kind in ("unionid", "user"):
        value = (value or "").strip()
        if not 1 <= len(value) <= 64 or any(c.isspace() or ord(c) < 32 for c in value):
            raise errors.InvalidRequest(f"{value!r} is not a valid {'unionid' if kind == 'unionid' else 'user id'}.")
        return kind, value
    raise errors.InvalidRequest(f"unknown kind {kind!r}; use phone, unionid or user.")


def find(kind: str, value: str) -> list[User]:
    """The users a (kind, value) names: by verified phone there may be several."""
    kind, value = entry_key(kind, value)
    column = {"phone": User.phone, "unionid": User.unionid, "user": User.public_id}[kind]
    return list(db.session.scalars(sa.select(User).where(column == value).order_by(User.id)))


def find_one(kind: str, value: str) -> User:
    found = find(kind, value)
    if not found:
        raise errors.UserNotFound(f"No user with {'id' if kind == 'user' else kind} {value}.")
    if len(found) > 1:
        ids = ", ".join(u.public_id for u in found)
        raise errors.InvalidRequest(f"Several users have {kind} {value} ({ids}); name one with --id.")
    return found[0]


def _matches(user: User):
    """SQL condition: access entries that name this user."""
    names = [sa.and_(AccessEntry.kind == "user", AccessEntry.value == user.public_id)]
    if user.unionid:
        names.append(sa.and_(AccessEntry.kind == "unionid", AccessEntry.value == user.unionid))
    if user.phone and user.phone_verified_at is not None:
        names.append(sa.and_(AccessEntry.kind == "phone", AccessEntry.value == user.phone))
    return sa.or_(*names)


def groups_of(user: User) -> list[str]:
    """The user's groups, sorted."""
    return list(db.session.scalars(
        sa.select(AccessEntry.group).distinct()
        .where(_matches(user), AccessEntry.group != "").order_by(AccessEntry.group)
    ))


def on_access_list(user: User) -> bool:
    """Named by the allowlist, or by any group (a group's members are people the company added)."""
    return db.session.scalar(sa.select(sa.exists().where(_matches(user)))) or False


def add_entry(kind: str, value: str, group: str = "") -> bool:
    """Name someone on the allowlist (group "") or in a group; False when already there."""
    kind, value = entry_key(kind, value)
    group = normalize_group(group) if group else ""
    insert = _insert_for_dialect()(AccessEntry).values(kind=kind, value=value, group=group, created_at=clock.utcnow())
    # One statement: an entry added by someone else meanwhile is simply there already.
    return db.session.execute(insert.on_conflict_do_nothing().returning(AccessEntry.id)).first() is not None


def _insert_for_dialect():
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def remove_entries(kind: str, value: str, group: str | None = None) -> int:
    """Remove someone from a group (or, with group None, from the allowlist and every group)."""
    kind, value = entry_key(kind, value)
    where = [AccessEntry.kind == kind, AccessEntry.value == value]
    if group is not None:
        where.append(AccessEntry.group == normalize_group(group))
    return db.session.execute(sa.delete(AccessEntry).where(*where),
                              execution_options={"synchronize_session": False}).rowcount


def block(user: User) -> bool:
    """Block the user and end every PC session and mini-program token at once; False if already blocked."""
    done = db.session.execute(
        sa.update(User).where(User.id == user.id, User.blocked_at.is_(None)).values(blocked_at=clock.utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount == 1
    auth.end_all_sessions(user.id)
    return done


def unblock(user: User) -> bool:
    done = db.session.execute(
        sa.update(User).where(User.id == user.id, User.blocked_at.is_not(None)).values(blocked_at=None),
        execution_options={"synchronize_session": False},
    ).rowcount == 1
    return done
