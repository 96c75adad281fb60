"""The people who log in: created at their first sign-in, their profile kept up to date.

Nothing here knows HTTP: views pass plain values in and commit.
"""
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import errors
from .extensions import db
from .models import User


def find_or_create(identity: dict) -> User:
    """The user WeChat (or development sign-in) names by `identity` {openid, unionid?, nickname?}.

    Commits a new user at once, so two sign-ins of one person at the same moment
    end up as one user: the second insert fails on the unique openid and reads the first.
    """
    openid = identity["openid"]
    user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None:
        user = User(openid=openid, unionid=identity.get("unionid"), nickname=identity.get("nickname") or "")
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


def update_profile(user: User, *, nickname: str | None = None, avatar_url: str | None = None) -> User:
    """Set what the PC page shows after a scan; the caller commits."""
    if nickname is None and avatar_url is None:
        raise errors.InvalidRequest("Send 'nickname' and/or 'avatar_url'.")
    if avatar_url is not None:
        parts = urlsplit(avatar_url)
        if parts.scheme != "https" or not parts.netloc:
            raise errors.InvalidRequest("'avatar_url' must be an https:// URL.")
    values = {k: v for k, v in (("nickname", nickname), ("avatar_url", avatar_url)) if v is not None}
    db.session.execute(sa.update(User).where(User.id == user.id).values(**values))
    db.session.flush()
    db.session.refresh(user)
    return user
