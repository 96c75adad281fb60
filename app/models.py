"""Database rows: users and their identities, access lists, login tickets, PC sessions."""
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import clock
from .extensions import db


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC (same on SQLite and PostgreSQL), hands back aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class database_now(sa.sql.expression.FunctionElement):
    """The database's clock as naive UTC, with microseconds: the one clock all boxes share.

    Ticket changes are stamped with it, so the cross-process catch-up query does
    not depend on the application servers' clocks agreeing.
    """

    type = UTCDateTime()
    inherit_cache = True


@compiles(database_now, "postgresql")
def _postgresql_now(element, compiler, **kw):
    return "(clock_timestamp() AT TIME ZONE 'UTC')"


@compiles(database_now, "sqlite")
def _sqlite_now(element, compiler, **kw):
    # SQLite's %f has milliseconds; three more digits match how datetimes are stored.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def new_public_id() -> str:
    """The user id other software sees: opaque, stable, never the openid."""
    return "u_" + secrets.token_urlsafe(15)  # 20 characters after the prefix


class User(db.Model):
    """A person. Known through one or more identities (one per WeChat app they used);
    `unionid` links the identities of one person across the company's WeChat apps."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    # WeChat's Open Platform id of the person, when an app bound to it said so.
    unionid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    nickname: Mapped[str] = mapped_column(sa.String(64), default="")
    avatar_url: Mapped[str] = mapped_column(sa.String(512), default="")
    # E.164 ("+8613800000000"), only ever a number WeChat verified.
    phone: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped to revoke every mini-program token the user holds.
    token_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)

    def to_dict(self) -> dict:
        return {"id": self.public_id, "nickname": self.nickname, "avatar_url": self.avatar_url}


class Identity(db.Model):
    """One way a person signs in: (provider, app id, openid) of one WeChat app, or a development name.

    provider: "wechat_mp" (mini-program), "wechat_oa" (Official Account), "dev" (development sign-in).
    An appid of "" marks an identity recorded before app ids were kept; it is the
    provider's configured app, and gets its appid at that person's next sign-in.
    """

    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    appid: Mapped[str] = mapped_column(sa.String(64), default="")
    openid: Mapped[str] = mapped_column(sa.String(64))
    unionid: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)

    __table_args__ = (sa.UniqueConstraint("provider", "appid", "openid", name="uq_identities_provider_appid_openid"),)


class AccessEntry(db.Model):
    """One line of the access lists: who it names (kind, value) and what it says.

    kind: "phone" (a verified E.164 number), "unionid", or "user" (a public user id).
    group: "" for the allowlist itself; otherwise membership in that group.
    Entries may name people who have never signed in yet (a phone number, a unionid).
    """

    __tablename__ = "access_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[str] = mapped_column(sa.String(64))
    group: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)

    __table_args__ = (
        sa.UniqueConstraint("kind", "value", "group", name="uq_access_entries_kind_value_group"),
        sa.Index("ix_access_entries_value", "value"),
    )


class Ticket(db.Model):
    """One QR login attempt. Its life (all changes go through app/tickets.py):

        pending --scan--> scanned --confirm--> confirmed --poll by the bound browser--> consumed
           |                 |  \\--scan again by the same user (stays scanned)
           |                 +--cancel--> cancelled
           +--(expires_at passes while pending, scanned or confirmed)--> expired
           +--(the person who scans may not log in: at scan, confirm or pick-up)--> denied
           +--(the bound browser drops it, "not you?", until picked up)--> cancelled

    `browser_hash` binds the ticket to the browser that created it: only that
    browser may poll it or receive the session it yields.
    """

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    browser_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    # Every transition sets updated_at from the database's clock (database_now);
    # other processes find changes by it.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    pc_ip: Mapped[str] = mapped_column(sa.String(64), default="")
    # What per-client limits count: the address, or its /64 for IPv6 (inputs.client_key).
    pc_net: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    pc_user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    scanned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the QR encodes when WeChat made it (QR_MODE=official_account: its parametric QR's url).
    qr_url: Mapped[str | None] = mapped_column(sa.String(512))

    # The app this login is for, when an OpenID Connect client sent the person here
    # (app/provider): the phone names it ("Log in to <app>").
    oidc_request_id: Mapped[str | None] = mapped_column(
        sa.String(32), sa.ForeignKey("oidc_requests.id", ondelete="SET NULL"))

    scanned_by: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.Index("ix_tickets_pc_ip_status", "pc_ip", "status"),
        sa.Index("ix_tickets_pc_net_status", "pc_net", "status"),
        sa.Index("ix_tickets_browser_hash_status", "browser_hash", "status"),
    )

    def seconds_left(self) -> int:
        return max(0, int((self.expires_at - clock.utcnow()).total_seconds()))

    def to_dict(self) -> dict:
        """What the bound browser's page is told about its ticket."""
        body = {
            "ticket_id": self.id,
            "status": self.status,
            "expires_in": self.seconds_left(),
            "expires_at": isoformat(self.expires_at),
        }
        if self.status in ("scanned", "confirmed") and self.scanned_by is not None:
            # Only what the login page shows; nothing else about the person.
            body["scanned_by"] = {"nickname": self.scanned_by.nickname, "avatar_url": self.scanned_by.avatar_url}
        return body


class LoginSession(db.Model):
    """A logged-in PC browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")

    user: Mapped[User] = relationship(lazy="joined")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "created_at": isoformat(self.created_at),
            "last_seen_at": isoformat(self.last_seen_at),
        }


def isoformat(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- WeChat -------------------------------------------------------------------

class WeChatAccessToken(db.Model):
    """The app's WeChat access token: one row per appid, shared by every worker and machine.

    Fetching a new token rotates it at WeChat, so exactly one process refreshes it at
    a time: it takes the row's lease (lease_owner, lease_until) with one conditional
    UPDATE; everyone else waits for the row to hold a fresh token. A lease whose
    holder died simply runs out.
    """

    __tablename__ = "wechat_access_tokens"

    appid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token: Mapped[str | None] = mapped_column(sa.String(512))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WxacodeImage(db.Model):
    """A ticket's mini-program code as WeChat drew it, so it is fetched once per ticket.

    Deleted with its ticket (purge)."""

    __tablename__ = "wxacode_images"

    ticket_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                                           primary_key=True)
    mimetype: Mapped[str] = mapped_column(sa.String(32))
    image: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)


# --- Official Account ------------------------------------------------------------

class OaEvent(db.Model):
    """A message WeChat pushed to the callback, kept to recognise its retries.

    `key` is "e:<FromUserName>:<CreateTime>:<scene>" for a login scan; the first delivery
    inserts it (one conditional insert), and every retry is answered from what it decided
    (`outcome`, `ticket_id`) without changing anything again. Other messages change
    nothing, so they need no row.
    """

    __tablename__ = "oa_events"

    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="")
    ticket_id: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow, index=True)


class OaConfirmLink(db.Model):
    """The link the scan's reply carries: lets that follower confirm or cancel that ticket, once.

    Only the hash of the link's secret is stored. `user_id` is who the login will be,
    once the confirm page learned the follower's unionid (it may be a user known from
    another app); until then the login is the scanner's.
    """

    __tablename__ = "oa_confirm_links"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    openid: Mapped[str] = mapped_column(sa.String(64))
    scanned_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
