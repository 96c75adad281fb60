"""The people who log in: created at their first sign-in, their profile kept up to date.

Nothing here knows HTTP: views pass plain values in and commit.
"""
import re
import unicodedata
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import config, errors
from .extensions import db
from .models import User

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
    """The user WeChat (or development sign-in) names by `identity` {openid, unionid?, nickname?}.

    Commits a new user at once, so two sign-ins of one person at the same moment
    end up as one user: the second insert fails on the unique openid and reads the first.
    """
    openid = identity["openid"]
    user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None:
        user = User(openid=openid, unionid=identity.get("unionid"), nickname=_fit(identity.get("nickname") or ""))
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:  # the same person signed in twice at once; theirs won
            db.session.rollback()
            user = db.session.scalar(sa.select(User).where(User.openid == openid))
    elif identity.get("unionid") and user.unionid != identity["unionid"]:
        db.session.execute(sa.update(User).where(User.id == user.id).values(unionid=identity["unionid"]))
        db.session.commit()
    return user


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
