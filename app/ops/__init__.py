"""Operations: health checks for load balancers and metrics for Prometheus."""
from flask import Blueprint

bp = Blueprint("ops", __name__)

from . import views  # noqa: E402,F401  (routes register on import)
