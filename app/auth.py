"""Who is calling: the PC browser (its binding cookie and login session) and mini-program users (bearer token)."""
from datetime import timedelta
from functools import wraps

import sqlalchemy as sa
from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

from . import clock, errors
from .extensions import db
from .inputs import client_ip, user_agent
from .models import LoginSession, User
from .security import hash_secret, new_secret, secret_matches

# How stale last_seen_at may get before a request refreshes it (saves a write per request).
TOUCH_EVERY = timedelta(seconds=60)


# --- the browser binding: which browser created a ticket ---------------------

def browser_secret() -> str | None:
    """The secret in the browser's binding cookie, if this server issued it.

    The cookie carries the secret and the server's signature of it: a value someone
    planted in the browser (cookie fixation, so that they could poll its tickets)
    is not signed and counts as no cookie at all.
    """
    value = request.cookies.get(current_app.config["BIND_COOKIE_NAME"])
    if not value or len(value) > 256:
        return None
    try:
        return _bind_signer().unsign(value).decode()
    except BadSignature:
        return None


def browser_hash() -> str | None:
    """The hash of this browser's binding secret, or None when it has none yet."""
    secret = browser_secret()
    return hash_secret(secret) if secret else None


def browser_binding() -> tuple[str, str]:
    """(secret, hash) binding a new ticket to this browser; a browser keeps one secret for all its tabs."""
    secret = browser_secret() or new_secret()
    return secret, hash_secret(secret)


_BIND_SALT = "qrlogin.browser-binding"


def _bind_signer() -> Signer:
    cfg = current_app.config
    # Signs with the newest key and accepts the older ones, like the mini-program tokens.
    return Signer([*cfg.get("SECRET_KEY_FALLBACKS", []), cfg["SECRET_KEY"]], salt=_BIND_SALT)


def signed_binding(secret: str, secret_key: str) -> str:
    """The binding cookie's value for `secret` as a server with `secret_key` issues it (for tools)."""
    return Signer(secret_key, salt=_BIND_SALT).sign(secret).decode()


def check_bound(browser_hash: str) -> None:
    """Refuse unless this request comes from the browser holding the binding."""
    if not secret_matches(browser_secret(), browser_hash):
        raise errors.NotBoundBrowser()


def set_bind_cookie(response, secret: str) -> None:
    cfg = current_app.config
    # Reused across tabs of one browser, so several open login pages all keep working.
    response.set_cookie(cfg["BIND_COOKIE_NAME"], _bind_signer().sign(secret).decode(), path="/", secure=cfg["COOKIE_SECURE"],
                        httponly=True, samesite="Lax")


# --- PC login sessions -------------------------------------------------------

def start_session(user_id: int, ticket_id: str) -> str:
    """Create a login session row; returns the token for the cookie (stored only hashed).

    A session the browser already had is ended, so every login gets a fresh id.
    """
    now = clock.utcnow()
    previous = _session_from_cookie()
    if previous is not None:
        end_session(previous)
    token = new_secret()
    db.session.add(
        LoginSession(
            token_hash=hash_secret(token),
            user_id=user_id,
            ticket_id=ticket_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=current_app.config["SESSION_TTL_SECONDS"]),
            ip=client_ip(),
            user_agent=user_agent(),
        )
    )
    db.session.flush()
    return token


def current_session() -> LoginSession | None:
    """The live session named by the request's cookie, or None (the view commits the touch)."""
    if "qrl_login" not in g:
        login = _session_from_cookie()
        if login is not None:
            _touch(login)
        g.qrl_login = login
    return g.qrl_login


def end_session(login: LoginSession) -> None:
    db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.id == login.id, LoginSession.ended_at.is_(None))
        .values(ended_at=clock.utcnow())
    )


def live_sessions(user_id: int) -> list[LoginSession]:
    """The user's PC sessions that are still logged in, most recently used first."""
    return list(db.session.scalars(
        sa.select(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None),
               LoginSession.expires_at > clock.utcnow())
        .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
    ))


def end_all_sessions(user_id: int) -> int:
    """End every PC session of the user and revoke every mini-program token (block, log out everywhere).

    Returns the number of PC sessions ended. The caller commits."""
    now = clock.utcnow()
    ended = db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
        .values(ended_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    revoke_mp_tokens(user_id)
    return ended


def end_user_session(user_id: int, session_id: int) -> bool:
    """End one of the user's live sessions; False when there is no such live session of theirs."""
    if not 0 < session_id < 2**63:  # beyond any id, and beyond what the database can compare
        return False
    now = clock.utcnow()
    result = db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.user_id == user_id,
               LoginSession.ended_at.is_(None), LoginSession.expires_at > now)
        .values(ended_at=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1


def _session_from_cookie() -> LoginSession | None:
    token = request.cookies.get(current_app.config["LOGIN_COOKIE_NAME"])
    if not token or len(token) > 128:
        return None
    return db.session.scalar(
        sa.select(LoginSession).where(
            LoginSession.token_hash == hash_secret(token),
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > clock.utcnow(),
        )
    )


def _touch(login: LoginSession) -> None:
    now = clock.utcnow()
    if now - login.last_seen_at < TOUCH_EVERY:
        return
    db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.id == login.id, LoginSession.last_seen_at < now - TOUCH_EVERY)
        .values(last_seen_at=now)
    )


def set_login_cookie(response, token: str) -> None:
    cfg = current_app.config
    response.set_cookie(
        cfg["LOGIN_COOKIE_NAME"], token, max_age=cfg["SESSION_TTL_SECONDS"],
        path="/", domain=cfg.get("SESSION_COOKIE_DOMAIN"), secure=cfg["COOKIE_SECURE"], httponly=True,
        samesite="Lax",
    )


def clear_login_cookie(response) -> None:
    cfg = current_app.config
    response.delete_cookie(cfg["LOGIN_COOKIE_NAME"], path="/", domain=cfg.get("SESSION_COOKIE_DOMAIN"),
                           secure=cfg["COOKIE_SECURE"], httponly=True, samesite="Lax")


# --- mini-program tokens -----------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    cfg = current_app.config
    # itsdangerous signs with the last key and accepts all of them, so keys in
    # SECRET_KEY_FALLBACKS keep existing tokens valid while a new key rolls out.
    keys = [*cfg.get("SECRET_KEY_FALLBACKS", []), cfg["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt="qrlogin.mp-token")


def issue_mp_token(user: User) -> tuple[str, int]:
    ttl = current_app.config["MP_TOKEN_TTL_SECONDS"]
    return _serializer().dumps({"u": user.id, "v": user.token_version}), ttl


def revoke_mp_tokens(user_id: int) -> None:
    """Every mini-program token issued to the user so far gets 401 token_revoked from now on.

    Tokens carry the version they were issued under; bumping it voids them all."""
    db.session.execute(
        sa.update(User).where(User.id == user_id).values(token_version=User.token_version + 1),
        execution_options={"synchronize_session": False},
    )


def mp_user() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.InvalidToken("Send the mini-program token as 'Authorization: Bearer <token>'.")
    try:
        data = _serializer().loads(token.strip(), max_age=current_app.config["MP_TOKEN_TTL_SECONDS"])
    except SignatureExpired:
        raise errors.InvalidToken("The token has expired; sign in again.") from None
    except BadSignature:
        raise errors.InvalidToken() from None
    if not isinstance(data, dict):
        raise errors.InvalidToken()
    user = db.session.get(User, data.get("u")) if isinstance(data.get("u"), int) else None
    if user is None:
        raise errors.InvalidToken()
    if user.token_version != data.get("v"):
        raise errors.TokenRevoked()
    return user


def mp_login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        g.mp_user = mp_user()
        return view(*args, **kwargs)

    return wrapper
