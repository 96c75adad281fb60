"""`flask oidc ...`: register the apps that log people in here, and rotate the signing key.

Every command prints JSON; bad input is one line on stderr and exit status 1.
"""
import json
from functools import wraps

import click

from .. import errors
from ..extensions import db
from ..provider import clients, keys
from . import bp


def _json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _one_line_errors(command):
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except errors.ApiError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None

    return wrapper


@bp.cli.command("add-client")
@click.option("--name", required=True, help="The app's name, as the phone shows it (\"Log in to NAME\").")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="Where the app receives the code; matched exactly. Repeat for several.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True,
              help="Where the app may send people after logging out. Repeat for several.")
@click.option("--public", is_flag=True, help="An app that cannot keep a secret (browser or native): PKCE only.")
@click.option("--trusted", is_flag=True, help="A first-party app: a person logged in here goes straight through.")
@click.option("--allowed-group", "allowed_groups", multiple=True,
              help="Only members of this group may log in to the app. Repeat for several.")
@_one_line_errors
def add_client(name, redirect_uris, post_logout_redirect_uris, public, trusted, allowed_groups):
    """Register an app. Prints its client_id and, for a confidential app, its secret (shown only now)."""
    client, secret = clients.add(name, list(redirect_uris), list(post_logout_redirect_uris),
                                 public=public, trusted=trusted, allowed_groups=list(allowed_groups))
    db.session.commit()
    data = client.to_dict()
    if secret is not None:
        data["client_secret"] = secret
    _json(data)


@bp.cli.command("list")
def list_clients():
    """Every registered app (never a secret)."""
    _json([client.to_dict() for client in clients.all_clients()])


@bp.cli.command("show")
@click.argument("client_id")
@_one_line_errors
def show(client_id):
    """One registered app."""
    _json(clients.get(client_id).to_dict())


@bp.cli.command("remove")
@click.argument("client_id")
@_one_line_errors
def remove(client_id):
    """Delete an app; its codes and tokens stop working at once."""
    clients.remove(client_id)
    db.session.commit()
    _json({"client_id": client_id, "removed": True})


@bp.cli.command("rotate-secret")
@click.argument("client_id")
@_one_line_errors
def rotate_secret(client_id):
    """Give a confidential app a new secret (shown only now); the old one stops working."""
    secret = clients.rotate_secret(client_id)
    db.session.commit()
    _json({"client_id": client_id, "client_secret": secret})


@bp.cli.command("rotate-key")
def rotate_key():
    """Sign with a new key from now on; earlier keys stay published so their id tokens still verify."""
    _json(keys.rotate())
