"""Operations through the flask CLI."""
from datetime import timedelta

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from . import clock
from .extensions import db
from .models import LoginSession, OaEvent, Ticket

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


qr_cli = AppGroup("qr", help="Log in by scan from a terminal.")


@qr_cli.command("login-url", with_appcontext=False)
@click.option("--server", default="http://127.0.0.1:8000", show_default=True, help="The service to log in to.")
@click.option("--cookie-file", type=click.Path(dir_okay=False, writable=True),
              help="Save the session cookie (name=value) here instead of printing it.")
def qr_login(server: str, cookie_file: str | None):
    """Show a login QR in the terminal, wait for the phone, then print or save the session cookie."""
    from .client import LoginFailed, run

    try:
        status = run(server, cookie_file, echo=click.echo)
    except LoginFailed as exc:
        raise click.ClickException(str(exc)) from exc
    raise SystemExit(status)
