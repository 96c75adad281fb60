"""The reverse proxy's check: may this browser enter the protected site it asked for?"""
from flask import Blueprint

bp = Blueprint("forward_auth", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
