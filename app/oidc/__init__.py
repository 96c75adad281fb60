"""OpenID Connect endpoints (discovery, authorize, token, userinfo, jwks, end_session,
revocation) and the `flask oidc` commands that register apps."""
from flask import Blueprint

bp = Blueprint("oidc", __name__, cli_group="oidc")

from . import cli, views  # noqa: E402,F401  (routes and commands register on import)
