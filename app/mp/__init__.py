"""The mini-program's API: sign in with wx.login, then scan, confirm or cancel a login."""
from flask import Blueprint

bp = Blueprint("mp", __name__, url_prefix="/api/mp")

from . import views  # noqa: E402,F401  (routes register on import)
