"""The Official Account's caller: WeChat's callback, and the pages its followers open from the chat."""
from flask import Blueprint

bp = Blueprint("oa", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
