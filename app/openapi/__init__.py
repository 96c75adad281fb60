"""For developers' tools: the HTTP API described as OpenAPI 3.1 at /openapi.json."""
from flask import Blueprint

bp = Blueprint("openapi", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
