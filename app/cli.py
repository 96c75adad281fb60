"""Operations through the flask CLI."""
from datetime import timedelta

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from . import clock
from .extensions import db
from .models import LoginSession, Ticket

tickets_cli = AppGroup("tickets", help="Look after login tickets and sessions.")


@tickets_cli.command("purge")
@click.option("--older-than", default=24 * 3600, show_default=True, type=click.IntRange(min=0),
              help="Keep rows that ended or expired less than this many seconds ago.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1))
def purge(older_than: int, batch_size: int):
    """Delete tickets and login sessions long past expiry, in small batches."""
    cutoff = clock.utcnow() - timedelta(seconds=older_than)
    removed_tickets = _delete_in_batches(Ticket, Ticket.id, Ticket.expires_at < cutoff, batch_size)
    ended = sa.or_(LoginSession.expires_at < cutoff, LoginSession.ended_at < cutoff)
    removed_sessions = _delete_in_batches(LoginSession, LoginSession.id, ended, batch_size)
    click.echo(f"Removed {removed_tickets} tickets and {removed_sessions} sessions.")


def _delete_in_batches(model, key, condition, batch_size: int) -> int:
    total = 0
    while True:
        ids = list(db.session.scalars(sa.select(key).where(condition).limit(batch_size)))
        if not ids:
            return total
        db.session.execute(sa.delete(model).where(key.in_(ids)), execution_options={"synchronize_session": False})
        db.session.commit()  # short transactions keep live traffic flowing
        total += len(ids)
