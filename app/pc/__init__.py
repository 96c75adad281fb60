"""The PC browser's side: the login page and the API it long-polls."""
from flask import Blueprint

bp = Blueprint("pc", __name__)

from . import api, pages  # noqa: E402,F401  (routes register on import)
