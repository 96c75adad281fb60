"""Operations through the flask CLI."""
import csv
import json
from datetime import timedelta

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from . import access, auth, clock, errors, users
from .extensions import db
from .models import LoginSession, OaEvent, Ticket, User, isoformat

tickets_cli = AppGroup("tickets", help="Look after login tickets and sessions.")


@tickets_cli.command("purge")
@click.option("--older-than", default=24 * 3600, show_default=True, type=click.IntRange(min=0),
              help="Keep rows that ended or expired less than this many seconds ago.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1))
def purge(older_than: int, batch_size: int):
    """Delete tickets, login sessions and Official Account events long past expiry, in small batches."""
    cutoff = clock.utcnow() - timedelta(seconds=older_than)
    removed_tickets = _delete_in_batches(Ticket, Ticket.id, Ticket.expires_at < cutoff, batch_size)
    ended = sa.or_(LoginSession.expires_at < cutoff, LoginSession.ended_at < cutoff)
    removed_sessions = _delete_in_batches(LoginSession, LoginSession.id, ended, batch_size)
    # Official Account events are kept only to recognise WeChat's retries (seconds apart).
    removed_events = _delete_in_batches(OaEvent, OaEvent.key, OaEvent.created_at < cutoff, batch_size)
    click.echo(f"Removed {removed_tickets} tickets and {removed_sessions} sessions.")
    if removed_events:
        click.echo(f"Removed {removed_events} Official Account events.")


def _delete_in_batches(model, key, condition, batch_size: int) -> int:
    total = 0
    while True:
        ids = list(db.session.scalars(sa.select(key).where(condition).limit(batch_size)))
        if not ids:
            return total
        db.session.execute(sa.delete(model).where(key.in_(ids)), execution_options={"synchronize_session": False})
        db.session.commit()  # short transactions keep live traffic flowing
        total += len(ids)


# --- flask users: people, the allowlist, groups, blocking --------------------------

class _OneLineErrors(AppGroup):
    """Bad input is one line and a non-zero exit, never a traceback or a usage dump."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise click.ClickException(exc.format_message()) from None
        except errors.ApiError as exc:
            raise click.ClickException(exc.message) from None


users_cli = _OneLineErrors("users", help="People who log in: list them, allow, block, put them in groups.")


def _person_options(command):
    for flag, kind, what in (("--id", "user", "the user id (u_...)"), ("--unionid", "unionid", "WeChat unionid"),
                             ("--phone", "phone", "verified phone number, e.g. +8613800000000")):
        command = click.option(flag, kind, metavar=kind.upper(), help=f"Name the person by {what}.")(command)
    return command


def _json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")(command)


def _named(user: str | None, unionid: str | None, phone: str | None) -> tuple[str, str]:
    given = [(kind, value) for kind, value in (("user", user), ("unionid", unionid), ("phone", phone))
             if value is not None]
    if len(given) != 1:
        raise click.UsageError("name the person with exactly one of --phone, --unionid or --id.")
    return users.entry_key(*given[0])


def _user_json(user) -> dict:
    return {
        "id": user.public_id,
        "nickname": user.nickname,
        "phone": user.phone,
        "unionid": user.unionid,
        "groups": users.groups_of(user),
        "allowed": access.allowed(user),
        "blocked_at": isoformat(user.blocked_at),
        "created_at": isoformat(user.created_at),
    }


def _say(as_json: bool, data: dict, line: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else line)


@users_cli.command("list")
@click.option("--group", help="Only members of this group.")
@click.option("--blocked", is_flag=True, help="Only blocked users.")
@_json_option
def users_list(group: str | None, blocked: bool, as_json: bool):
    """List users (oldest first) with their phone, groups and whether they may log in."""
    rows = [_user_json(u) for u in db.session.scalars(sa.select(User).order_by(User.id))]
    if group is not None:
        group = users.normalize_group(group)
        rows = [r for r in rows if group in r["groups"]]
    if blocked:
        rows = [r for r in rows if r["blocked_at"]]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        state = "blocked" if r["blocked_at"] else ("allowed" if r["allowed"] else "not allowed")
        click.echo(f"{r['id']}  {r['nickname'] or '-'}  {r['phone'] or '-'}  "
                   f"groups={','.join(r['groups']) or '-'}  {state}")


@users_cli.command("show")
@_person_options
def users_show(user, unionid, phone):
    """Everything about one user, as JSON: identities, groups, access, live PC sessions."""
    person = users.find_one(*_named(user, unionid, phone))
    data = _user_json(person)
    data["phone_verified_at"] = isoformat(person.phone_verified_at)
    data["identities"] = [{"provider": i.provider, "appid": i.appid, "openid": i.openid, "unionid": i.unionid}
                          for i in users.identities_of(person)]
    data["live_sessions"] = len(auth.live_sessions(person.id))
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@users_cli.command("allow")
@_person_options
@click.option("--group", "groups", multiple=True, help="Also put them in this group (repeatable).")
@_json_option
def users_allow(user, unionid, phone, groups, as_json):
    """Put someone on the allowlist (and in groups). They need not have logged in yet,
    except when named by --id."""
    kind, value = _named(user, unionid, phone)
    if kind == "user":
        users.find_one(kind, value)
    groups = [users.normalize_group(g) for g in groups]
    added = users.add_entry(kind, value)
    for group in groups:
        users.add_entry(kind, value, group)
    db.session.commit()
    _say(as_json, {kind: value, "allowed": True, "groups": groups, "added": added},
         f"Allowed {kind} {value}" + (f" (groups: {', '.join(groups)})" if groups else "")
         + ("" if added else "; it was already on the allowlist") + ".")


@users_cli.command("disallow")
@_person_options
@_json_option
def users_disallow(user, unionid, phone, as_json):
    """Take someone off the allowlist and out of every group (sessions live on; use block to end them)."""
    kind, value = _named(user, unionid, phone)
    removed = users.remove_entries(kind, value)
    db.session.commit()
    if not removed:
        raise click.ClickException(f"{kind} {value} is not on the allowlist or in any group.")
    _say(as_json, {kind: value, "removed": removed}, f"Removed {removed} entries naming {kind} {value}.")


@users_cli.command("block")
@_person_options
@_json_option
def users_block(user, unionid, phone, as_json):
    """Block a user: every PC session and mini-program token ends at once; they cannot log in."""
    person = users.find_one(*_named(user, unionid, phone))
    sessions = len(auth.live_sessions(person.id))
    newly = users.block(person)
    db.session.commit()
    _say(as_json, {"id": person.public_id, "blocked": True, "sessions_ended": sessions},
         f"Blocked {person.public_id}; ended {sessions} PC sessions and every mini-program token."
         if newly else f"{person.public_id} was already blocked; ended {sessions} PC sessions again.")


@users_cli.command("unblock")
@_person_options
@_json_option
def users_unblock(user, unionid, phone, as_json):
    """Let a blocked user log in again (subject to ACCESS_POLICY)."""
    person = users.find_one(*_named(user, unionid, phone))
    newly = users.unblock(person)
    db.session.commit()
    _say(as_json, {"id": person.public_id, "blocked": False},
         f"Unblocked {person.public_id}." if newly else f"{person.public_id} was not blocked.")


group_cli = _OneLineErrors("group", help="Group membership (admins, ops, ...).")
users_cli.add_command(group_cli)


@group_cli.command("add")
@click.argument("name")
@_person_options
@_json_option
def group_add(name, user, unionid, phone, as_json):
    """Put someone in group NAME. Group members may log in under ACCESS_POLICY=allowlist."""
    kind, value = _named(user, unionid, phone)
    if kind == "user":
        users.find_one(kind, value)
    name = users.normalize_group(name)
    added = users.add_entry(kind, value, name)
    db.session.commit()
    _say(as_json, {kind: value, "group": name, "added": added},
         f"Added {kind} {value} to {name}." if added else f"{kind} {value} was already in {name}.")


@group_cli.command("remove")
@click.argument("name")
@_person_options
@_json_option
def group_remove(name, user, unionid, phone, as_json):
    """Take someone out of group NAME."""
    kind, value = _named(user, unionid, phone)
    name = users.normalize_group(name)
    if not users.remove_entries(kind, value, name):
        raise click.ClickException(f"{kind} {value} is not in group {name}.")
    db.session.commit()
    _say(as_json, {kind: value, "group": name, "removed": True}, f"Removed {kind} {value} from {name}.")


@users_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@_json_option
def users_import(csv_file, as_json):
    """Add the people in CSV_FILE to the allowlist: a header row, then one person a row.

    \b
    Columns: phone, unionid or id (exactly one filled a row), and optionally groups
    (separated by spaces or ';'). All rows or none: one bad row changes nothing.
      phone,unionid,id,groups
      +8613800000000,,,ops admins
      ,oUnionid123,,
    """
    reader = csv.DictReader(csv_file)
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if not columns & {"phone", "unionid", "id"}:
        raise click.ClickException("the CSV needs a header row naming a phone, unionid or id column.")
    rows = []
    for number, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        named = [(kind, row.get(col, "")) for kind, col in (("phone", "phone"), ("unionid", "unionid"),
                                                             ("user", "id")) if row.get(col, "")]
        if not any(row.values()):
            continue
        try:
            if len(named) != 1:
                raise errors.InvalidRequest("fill exactly one of phone, unionid or id.")
            kind, value = users.entry_key(*named[0])
            if kind == "user":
                users.find_one(kind, value)
            groups = [users.normalize_group(g) for g in row.get("groups", "").replace(";", " ").split()]
        except errors.ApiError as exc:
            raise click.ClickException(f"line {number}: {exc.message} Nothing was imported.") from None
        rows.append((kind, value, groups))
    added = sum(users.add_entry(kind, value) for kind, value, _ in rows)
    for kind, value, groups in rows:
        for group in groups:
            users.add_entry(kind, value, group)
    db.session.commit()
    _say(as_json, {"rows": len(rows), "added": added},
         f"Imported {len(rows)} people ({added} new on the allowlist).")
