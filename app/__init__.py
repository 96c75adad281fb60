"""Scan-to-login for Flask: the application factory."""
import os

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_mod
from . import tickets, wakeups
from .errors import register_errorhandlers
from .extensions import db, discard_session, migrate, private_file

# Pages may only be framed by nobody: a login QR inside a foreign frame is QRLJacking.
# Images only from here and the avatar hosts: whoever scans cannot make the page load anything else.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: {avatar_hosts}; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` (used by tests) overrides what the environment says."""
    app = Flask(__name__, instance_relative_config=True)
    _private_instance_folder(app.instance_path)
    app.config.update(config_mod.load(config, instance_path=app.instance_path))
    app.json.sort_keys = False  # answers read in the order they are built

    register_extensions(app)
    register_body_reader(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_response_headers(app)
    register_proxy_fix(app)
    register_abuse_limits(app)
    register_logging(app)
    return app


def _private_instance_folder(path: str) -> None:
    """instance/ holds the SQLite database and the development key: this user's eyes only."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    private_file(path)


def register_extensions(app: Flask) -> None:
    """The database, migrations and the wake-up hub, bound to this app."""
    db.init_app(app)
    # Teardowns run last-registered first: this one ends the session before Flask-SQLAlchemy's.
    app.teardown_appcontext(discard_session)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True)
    wakeups.init_app(app, catch_up=tickets.changed_since, changes=tickets.moved_in)


def register_body_reader(app: Flask) -> None:
    """Every body is read in full before any view or limit runs (inputs.read_body_first)."""
    from .inputs import read_body_first

    app.before_request(read_body_first)


def register_blueprints(app: Flask) -> None:
    """One blueprint per caller: the PC page, the mini-program, developers' tools, operations."""
    from .mp import bp as mp_bp
    from .oa import bp as oa_bp
    from .oidc import bp as oidc_bp
    from .openapi import bp as openapi_bp
    from .ops import bp as ops_bp
    from .pc import bp as pc_bp
    from .provider import server as oidc_server

    app.register_blueprint(pc_bp)
    app.register_blueprint(mp_bp)
    app.register_blueprint(oa_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(oidc_bp)  # OpenID Connect: other apps log their users in here
    oidc_server.init_app(app)
    from .forward_auth import bp as forward_auth_bp

    app.register_blueprint(forward_auth_bp)


def register_commands(app: Flask) -> None:
    """The `flask tickets` and `flask users` commands (also entry points in pyproject.toml, so the
    flask CLI can report a wrong configuration); the terminal client is `qrlogin`."""
    from .cli import tickets_cli, users_cli

    app.cli.add_command(tickets_cli)
    app.cli.add_command(users_cli)


def register_response_headers(app: Flask) -> None:
    """Security and caching headers on every answer."""
    hosts = (*config_mod.WECHAT_AVATAR_HOSTS, *app.config.get("AVATAR_HOSTS", ()))
    policy = CONTENT_SECURITY_POLICY.format(avatar_hosts=" ".join(f"https://{host}" for host in hosts))

    @app.after_request
    def security_headers(response):
        headers = response.headers
        if request.path.startswith("/api/") and "Cache-Control" not in headers:
            # Ticket states and sessions must never be served from a cache.
            headers["Cache-Control"] = "no-store"
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", policy)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        return response


def register_proxy_fix(app: Flask) -> None:
    """Believe forwarded headers from exactly PROXY_FIX_HOPS proxies, and no others."""
    hops = app.config.get("PROXY_FIX_HOPS", 0)
    if hops:
        # Trust exactly the configured proxies: the address each one appended,
        # never what the client itself wrote into X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_abuse_limits(app: Flask) -> None:
    """Per-client rate limits (app/limits.py)."""
    from .limits import register_limits

    register_limits(app)


def register_logging(app: Flask) -> None:
    """One JSON (or text) line per request."""
    from . import logs

    logs.configure(app)
