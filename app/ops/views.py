"""GET /healthz (the process is up), /readyz (it can serve), /metrics (Prometheus)."""
import hmac
import ipaddress
import os
import shutil

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.util import CommandError
from alembic.script import ScriptDirectory
from flask import current_app, jsonify, request

from .. import errors, metrics
from ..extensions import db
from . import bp


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify({"status": "ok"}))


@bp.get("/readyz")
def readyz():
    """Ready when the database answers, carries every migration this code needs and
    (SQLite) has room to write.

    A database ahead of the code (a newer release migrated it during a rolling
    deploy) is still ready: migrations only add, so the older code keeps working.
    """
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except sa.exc.SQLAlchemyError as exc:
        current_app.logger.warning("readyz: database unreachable (%s)", type(exc).__name__)
        raise errors.NotReady("The database is unreachable.") from None
    _refuse_full_disk()
    script = _migrations()
    expected = set(script.get_heads())
    ahead = bool(current) and not any(_known(script, rev) for rev in current)
    if current != expected and not ahead:
        raise errors.NotReady(
            f"The database is at migration {', '.join(sorted(current)) or 'none'}, the code needs "
            f"{', '.join(sorted(expected))}; run `flask db upgrade`."
        )
    return _no_store(jsonify({"status": "ready", "migration": ",".join(sorted(current))}))


@bp.get("/metrics")
def metrics_text():
    _allow_scraper()
    body, content_type = metrics.exposition()
    return _no_store(current_app.response_class(body, content_type=content_type))


def _allow_scraper() -> None:
    """A valid METRICS_TOKEN bearer, or a peer in METRICS_ALLOW_IPS."""
    cfg = current_app.config
    token = cfg.get("METRICS_TOKEN")
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return
    if not sent and _peer_allowed(cfg.get("METRICS_ALLOW_IPS") or ()):
        return
    raise errors.MetricsForbidden()


# Headers a proxy adds when it passes a request on; any of them means the peer is a proxy.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Host", "X-Forwarded-Proto")


def _peer_allowed(networks) -> bool:
    # A proxy on this host makes every visitor look like 127.0.0.1: a request that
    # came through one is trusted by address only when ProxyFix (PROXY_FIX_HOPS)
    # resolved the client from X-Forwarded-For.
    proxied = any(name in request.headers for name in PROXY_HEADERS)
    resolved = "werkzeug.proxy_fix.orig" in request.environ and "X-Forwarded-For" in request.headers
    if proxied and not resolved:
        return False
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in network for network in networks)


def _refuse_full_disk() -> None:
    """A SQLite database whose disk is full still answers reads, but no login can be written."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    folder = os.path.dirname(os.path.abspath(url.database))
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < current_app.config["SQLITE_MIN_FREE_MB"]:
        current_app.logger.warning("readyz: %.2f MB free beside the database", free_mb)
        raise errors.NotReady(f"The database's disk is full ({free_mb:.2f} MB free).")


def _migrations() -> ScriptDirectory:
    script = current_app.extensions.get("qrlogin_migrations")
    if script is None:  # read once: the migration files do not change while the process runs
        script = ScriptDirectory(os.fspath(current_app.extensions["migrate"].directory))
        current_app.extensions["qrlogin_migrations"] = script
    return script


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response
